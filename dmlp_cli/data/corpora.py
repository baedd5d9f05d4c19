"""Sources of raw text: the built-in toy grammar, local files, and hub datasets.

Every corpus returns the same shape of data, a `DatasetDict` with splits
"train", "valid", "test" and columns "text" (str) and "label" (int, -1 when
unlabelled), plus "encoder_token_ids" / "decoder_token_ids" for pre-tokenized
data, so nothing downstream needs to know where the text came from.

Constructors take only plain values and do no I/O because Hydra builds the
corpora from YAML before anything runs; the work happens in `load()`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from dmlp_cli.errors import DmlpError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
# The names a split goes by in files and on the hub, in order of preference.
SPLIT_ALIASES = {"train": ("train",), "valid": ("valid", "validation", "dev"), "test": ("test",)}
# File extension -> (datasets builder, builder options).
READERS = {
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".txt": ("text", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
}
CARVED_VALID_FRACTION = 0.05
FEATURES = {
    "text": datasets.Value("string"),
    "label": datasets.Value("int64"),
    "encoder_token_ids": datasets.List(datasets.Value("int64")),
    "decoder_token_ids": datasets.List(datasets.Value("int64")),
}


def _first_line(err: BaseException) -> str:
    """Keeps a wrapped library error to one line, as DmlpError messages must be."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


@dataclass(frozen=True)
class _Normalisation:
    """Turns raw splits with the user's field names into our splits and columns.

    Written once and shared by the file, hub and toy corpora, so every source
    validates fields, fills in missing splits and caps sizes the same way.
    """

    text_field: str
    label_field: str | None
    encoder_token_field: str | None
    decoder_token_field: str | None
    max_examples: int | None
    seed: int

    def apply(self, raw: dict[str, datasets.Dataset], origins: dict[str, str]) -> datasets.DatasetDict:
        """`origins` names where each split came from (a file, a hub split) for error messages."""
        splits = {name: self._select(ds, origins[name]) for name, ds in raw.items()}
        splits = self._complete(splits)
        return datasets.DatasetDict({name: self._finish(splits[name], name) for name in SPLITS})

    def _select(self, ds: datasets.Dataset, origin: str) -> datasets.Dataset:
        """Keeps the configured fields under our column names (no data is copied)."""
        wanted = [
            (option, field, column)
            for option, field, column in (
                ("text_field", self.text_field, "text"),
                ("label_field", self.label_field, "label"),
                ("encoder_token_field", self.encoder_token_field, "encoder_token_ids"),
                ("decoder_token_field", self.decoder_token_field, "decoder_token_ids"),
            )
            if field is not None
        ]
        for option, field, _ in wanted:
            if field not in ds.column_names:
                raise DmlpError(
                    f"dataset.{option} '{field}' is not a field of {origin} (fields: {', '.join(ds.column_names)}); "
                    f"set dataset.{option}=<one of them>"
                )
        ds = ds.select_columns([field for _, field, _ in wanted])
        return ds.rename_columns({field: column for _, field, column in wanted if field != column})

    def _complete(self, splits: dict[str, datasets.Dataset]) -> dict[str, datasets.Dataset]:
        """Every run needs train/valid/test: carve valid from train, reuse valid as test."""
        if "valid" not in splits:
            train = splits["train"]
            if len(train) < 2:
                raise DmlpError(
                    f"dataset split 'train' has {len(train)} example(s), too few to carve a valid split from; "
                    "add data or a valid file"
                )
            carved = train.train_test_split(test_size=CARVED_VALID_FRACTION, seed=self.seed)
            splits = {**splits, "train": carved["train"], "valid": carved["test"]}
            log.info(
                "dataset has no valid split: carved %d%% of train (%d examples, seed %d) as valid",
                round(100 * CARVED_VALID_FRACTION),
                len(carved["test"]),
                self.seed,
            )
        if "test" not in splits:
            splits = {**splits, "test": splits["valid"]}
            log.info("dataset has no test split: reusing valid as test")
        return splits

    def _finish(self, ds: datasets.Dataset, split: str) -> datasets.Dataset:
        """Caps the split, then gives it a label column and our column types."""
        if self.max_examples is not None:
            ds = ds.select(range(min(len(ds), self.max_examples)))
        if "label" not in ds.column_names:
            ds = ds.add_column("label", np.full(len(ds), -1, dtype=np.int64))
        features = datasets.Features({column: FEATURES[column] for column in ds.column_names})
        if ds.features == features:
            return ds
        try:
            return ds.cast(features)
        except (ValueError, TypeError, pa.ArrowException) as err:
            raise DmlpError(
                f"dataset split '{split}' has fields of the wrong type ({_first_line(err)}); the text field must hold "
                "strings, the label field integers, the token fields lists of integer ids"
            ) from err


class ToyCorpus:
    """The built-in grammar corpus: the offline default, with an oracle for validity."""

    def __init__(self, *, num_train: int = 20000, num_valid: int = 500, num_test: int = 500, seed: int = 0):
        self.sizes = {"train": num_train, "valid": num_valid, "test": num_test}
        self.seed = seed

    def load(self) -> datasets.DatasetDict:
        """Generates each split from its own seed stream, so splits never share a generator state.

        A split of size 0 is left out, so it falls back like a missing file (valid carved, test = valid).
        """
        from dmlp_cli.data.toy_grammar import ToyGrammar

        if self.sizes["train"] < 1:
            raise DmlpError(f"dataset.num_train={self.sizes['train']} leaves nothing to train on; set it to 1 or more")
        grammar = ToyGrammar()
        streams = np.random.SeedSequence(self.seed).spawn(len(SPLITS))
        raw = {
            split: datasets.Dataset.from_list(
                grammar.generate(num_sentences=self.sizes[split], seed=int(stream.generate_state(1)[0]))
            )
            for split, stream in zip(SPLITS, streams)
            if self.sizes[split] > 0
        }
        return _Normalisation(
            text_field="text",
            label_field="label",
            encoder_token_field=None,
            decoder_token_field=None,
            max_examples=None,
            seed=self.seed,
        ).apply(raw, {split: f"the toy grammar's {split} split" for split in raw})


class LocalCorpus:
    """Text in local jsonl/json/txt/csv/tsv files: a folder of split files, or one file to split."""

    def __init__(
        self,
        *,
        path: str,
        text_field: str = "text",
        label_field: str | None = None,
        split_ratio: list[float] | None = None,
        seed: int = 0,
        encoder_token_field: str | None = None,
        decoder_token_field: str | None = None,
        max_examples: int | None = None,
    ):
        self.path = path
        self.split_ratio = split_ratio
        self.seed = seed
        self.normalisation = _Normalisation(
            text_field=text_field,
            label_field=label_field,
            encoder_token_field=encoder_token_field,
            decoder_token_field=decoder_token_field,
            max_examples=max_examples,
            seed=seed,
        )

    def load(self) -> datasets.DatasetDict:
        path = Path(self.path).expanduser()
        if not path.exists():
            raise DmlpError(f"dataset.path '{path}' does not exist; pass dataset.path={self._usage()}")
        if path.is_dir():
            files = self._split_files(path)
            raw = {split: _read(file) for split, file in files.items()}
            origins = {split: str(file) for split, file in files.items()}
        else:
            ratios = self._checked_ratios(path)
            raw = self._split_by_ratio(_read(path), ratios)
            origins = {split: str(path) for split in raw}
        return self.normalisation.apply(raw, origins)

    @staticmethod
    def _usage() -> str:
        return "<folder with train.jsonl/valid.jsonl/test.jsonl or one file with dataset.split_ratio=[0.9,0.05,0.05]>"

    def _split_files(self, folder: Path) -> dict[str, Path]:
        """Finds train/valid/test files in a folder (valid may be called validation or dev)."""
        if self.split_ratio is not None:
            raise DmlpError(
                f"dataset.split_ratio only applies when dataset.path is one file, but '{folder}' is a folder; "
                "drop dataset.split_ratio or point dataset.path at one file"
            )
        files = {}
        for split in SPLITS:
            found = [
                folder / f"{alias}{ext}"
                for alias in SPLIT_ALIASES[split]
                for ext in READERS
                if (folder / f"{alias}{ext}").is_file()
            ]
            if len(found) > 1:
                raise DmlpError(
                    f"dataset.path '{folder}' has several {split} files ({', '.join(f.name for f in found)}); keep one"
                )
            if found:
                files[split] = found[0]
        if "train" not in files:
            raise DmlpError(
                f"dataset.path '{folder}' has no train file ({'/'.join('train' + ext for ext in READERS)}); "
                f"pass dataset.path={self._usage()}"
            )
        return files

    def _checked_ratios(self, file: Path) -> list[float]:
        """Validates a one-file setup before reading it, so mistakes fail fast."""
        if file.suffix.lower() not in READERS:
            raise DmlpError(
                f"dataset.path '{file}' has extension '{file.suffix}', which is not one of {' '.join(READERS)}; "
                "convert the file or rename it"
            )
        if self.split_ratio is None:
            raise DmlpError(
                f"dataset.path '{file}' is one file; add dataset.split_ratio=[0.9,0.05,0.05] "
                "to split it into train/valid/test"
            )
        ratios = [float(r) for r in self.split_ratio]
        if len(ratios) != len(SPLITS) or min(ratios) < 0 or ratios[0] == 0 or not math.isclose(sum(ratios), 1.0):
            raise DmlpError(
                f"dataset.split_ratio must be three non-negative fractions [train, valid, test] summing to 1 "
                f"with train > 0, got {ratios}; e.g. dataset.split_ratio=[0.9,0.05,0.05]"
            )
        return ratios

    def _split_by_ratio(self, ds: datasets.Dataset, ratios: list[float]) -> dict[str, datasets.Dataset]:
        """Seeded shuffle, then consecutive slices; an empty valid/test slice falls back like a missing file."""
        ds = ds.shuffle(seed=self.seed)
        n_train = round(ratios[0] * len(ds))
        n_valid = round(ratios[1] * len(ds))
        bounds = {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, len(ds))}
        return {
            split: ds.select(range(start, stop))
            for split, (start, stop) in bounds.items()
            if split == "train" or stop > start
        }


def _read(file: Path) -> datasets.Dataset:
    """Reads one file with the `datasets` builders, so it is cached as Arrow after the first run."""
    builder, options = READERS[file.suffix.lower()]
    try:
        return datasets.load_dataset(builder, data_files=str(file), split="train", **options)
    except datasets.exceptions.DatasetGenerationError as err:
        raise DmlpError(
            f"dataset file '{file}' could not be read as {builder} ({_first_line(err.__cause__ or err)}); "
            "fix the file or give it the extension of its format"
        ) from err


class HubCorpus:
    """A dataset on the Hugging Face hub, e.g. DMLP's pre-tokenized "guangyil/yelp_short_v2"."""

    def __init__(
        self,
        *,
        name: str,
        text_field: str = "text",
        label_field: str | None = None,
        revision: str | None = None,
        encoder_token_field: str | None = None,
        decoder_token_field: str | None = None,
        split_names: dict[str, str] | None = None,
        max_examples: int | None = None,
    ):
        self.name = name
        self.revision = revision
        self.split_names = split_names
        self.normalisation = _Normalisation(
            text_field=text_field,
            label_field=label_field,
            encoder_token_field=encoder_token_field,
            decoder_token_field=decoder_token_field,
            max_examples=max_examples,
            seed=0,
        )

    def load(self) -> datasets.DatasetDict:
        try:
            hub = datasets.load_dataset(self.name, revision=self.revision)
        except (OSError, ValueError, datasets.exceptions.DatasetsError) as err:
            raise DmlpError(
                f"hub dataset '{self.name}' could not be loaded ({_first_line(err)}); check the name and the network, "
                "or use local files: dataset=local dataset.path=<folder with train.jsonl/valid.jsonl/test.jsonl>"
            ) from err
        names = self._hub_split_names(list(hub))
        raw = {split: hub[hub_name] for split, hub_name in names.items()}
        return self.normalisation.apply(
            raw, {split: f"hub dataset '{self.name}' split '{hub_name}'" for split, hub_name in names.items()}
        )

    def _hub_split_names(self, available: list[str]) -> dict[str, str]:
        """Our split name -> the hub's: dataset.split_names first, then the usual aliases."""
        chosen = dict(self.split_names or {})
        unknown = sorted(set(chosen) - set(SPLITS))
        if unknown:
            raise DmlpError(
                f"dataset.split_names has keys {unknown}; its keys must be among {list(SPLITS)}, "
                "e.g. dataset.split_names={valid: validation}"
            )
        missing = {split: hub_name for split, hub_name in chosen.items() if hub_name not in available}
        if missing:
            raise DmlpError(
                f"hub dataset '{self.name}' has no split(s) {sorted(missing.values())} "
                f"(splits: {', '.join(available)}); "
                "fix dataset.split_names"
            )
        for split in SPLITS:
            alias = next((a for a in SPLIT_ALIASES[split] if a in available), None)
            if split not in chosen and alias is not None:
                chosen[split] = alias
        if "train" not in chosen:
            raise DmlpError(
                f"hub dataset '{self.name}' has no train split (splits: {', '.join(available)}); "
                "name one with dataset.split_names={train: <split>}"
            )
        return chosen
