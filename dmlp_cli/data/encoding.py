"""Text -> token ids for the encoder and the decoder, with a report of what changed.

The encoder sees the sentence with whatever special tokens its tokenizer adds
(e.g. [CLS] ... [SEP] for BERT); the decoder sees `bos + tokens + eos`, so it
learns where a sentence starts and when to stop. Empty lines are dropped and
long sequences truncated, and both are counted in an `EncodingReport` that the
CLI prints, so no data is lost silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import pyarrow.compute as pc
from transformers import PreTrainedTokenizerBase

from dmlp_cli.errors import DmlpError

# Pre-tokenized columns a corpus may provide, and the tokenizer side they belong to.
PRETOKENIZED = {"encoder_token_ids": "encoder", "decoder_token_ids": "decoder"}
MIN_LENGTH = 3  # bos, one token, eos


@dataclass
class EncodingReport:
    """Per split: what happened to the user's data on its way to token ids."""

    num_examples: dict[str, int]
    num_empty_dropped: dict[str, int]
    num_truncated: dict[str, int]
    max_length: int

    def summary(self) -> str:
        """One line per split, for the console and the run log."""
        return "\n".join(
            f"{split}: {count} examples, {self.num_empty_dropped[split]} empty dropped, "
            f"{self.num_truncated[split]} truncated to {self.max_length} tokens"
            for split, count in self.num_examples.items()
        )


def encode_corpus(
    corpus: datasets.DatasetDict,
    *,
    encoder_tokenizer: PreTrainedTokenizerBase,
    decoder_tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    num_proc: int | None = None,
) -> tuple[datasets.DatasetDict, EncodingReport]:
    """Adds "encoder_ids" and "decoder_ids" to every split; keeps "text" and "label"."""
    if max_length < MIN_LENGTH:
        raise DmlpError(
            f"max_length={max_length} is too short; sequences need at least {MIN_LENGTH} tokens (bos, a word, eos)"
        )
    tokenizers = {"encoder": encoder_tokenizer, "decoder": decoder_tokenizer}
    encode = _BatchEncoder(
        encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer, max_length=max_length
    )
    report = EncodingReport(num_examples={}, num_empty_dropped={}, num_truncated={}, max_length=max_length)
    encoded = {}
    for split, ds in corpus.items():
        for column, side in PRETOKENIZED.items():
            if column in ds.column_names:
                _check_ids_in_vocabulary(ds, column, tokenizers[side])
        kept = ds.filter(
            _has_text, batched=True, input_columns="text", num_proc=num_proc, desc=f"dropping empty {split}"
        )
        dropped = len(ds) - len(kept)
        if len(kept) == 0:
            raise DmlpError(
                f"dataset split '{split}' is empty after dropping {dropped} empty lines; "
                "check dataset.path / dataset.text_field"
            )
        kept = kept.map(
            encode,
            batched=True,
            num_proc=num_proc,
            remove_columns=[c for c in kept.column_names if c not in ("text", "label")],
            desc=f"tokenizing {split}",
        )
        report.num_examples[split] = len(kept)
        report.num_empty_dropped[split] = dropped
        report.num_truncated[split] = int(kept.with_format("numpy")["truncated"][:].sum())
        encoded[split] = kept.remove_columns("truncated")
    return datasets.DatasetDict(encoded), report


def _has_text(texts: list[str | None]) -> list[bool]:
    """Empty and whitespace-only lines carry nothing to reconstruct."""
    return [bool(text and text.strip()) for text in texts]


def _check_ids_in_vocabulary(ds: datasets.Dataset, column: str, tokenizer: PreTrainedTokenizerBase) -> None:
    """Pre-tokenized ids made with another tokenizer would index past the embedding table."""
    ids = pc.list_flatten(ds.with_format("arrow")[column])
    bounds = pc.min_max(ids).as_py()
    if bounds["min"] is not None and (bounds["min"] < 0 or bounds["max"] >= len(tokenizer)):
        bad = bounds["max"] if bounds["max"] >= len(tokenizer) else bounds["min"]
        raise DmlpError(
            f"dataset column '{column}' has token id {bad}, outside tokenizer '{tokenizer.name_or_path}' "
            f"(ids 0..{len(tokenizer) - 1}); use the tokenizer the ids were made with, or drop the dataset's "
            "token field to tokenize the text instead"
        )


def _truncate(ids: list[int], max_length: int, special_ids: frozenset[int]) -> list[int]:
    """Cuts content but keeps a closing special token ([SEP], eos), so the model still sees the end."""
    if len(ids) <= max_length:
        return ids
    if ids[-1] in special_ids:
        return ids[: max_length - 1] + ids[-1:]
    return ids[:max_length]


class _BatchEncoder:
    """The `Dataset.map` function: tokenizes a batch in one call and flags truncated examples."""

    def __init__(self, *, encoder_tokenizer, decoder_tokenizer, max_length: int):
        self.encoder_tokenizer = encoder_tokenizer
        self.decoder_tokenizer = decoder_tokenizer
        self.max_length = max_length
        self.encoder_specials = frozenset(encoder_tokenizer.all_special_ids)
        self.decoder_specials = frozenset(decoder_tokenizer.all_special_ids)
        self.bos = decoder_tokenizer.bos_token_id
        self.eos = decoder_tokenizer.eos_token_id

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        if "encoder_token_ids" in batch:
            encoder_ids = batch["encoder_token_ids"]
        else:
            encoder_ids = self.encoder_tokenizer(batch["text"], add_special_tokens=True)["input_ids"]
        if "decoder_token_ids" in batch:
            decoder_ids = batch["decoder_token_ids"]
        else:
            decoder_ids = self.decoder_tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        decoder_ids = [self._wrap(ids) for ids in decoder_ids]
        return {
            "encoder_ids": [_truncate(ids, self.max_length, self.encoder_specials) for ids in encoder_ids],
            "decoder_ids": [_truncate(ids, self.max_length, self.decoder_specials) for ids in decoder_ids],
            "truncated": [
                len(enc) > self.max_length or len(dec) > self.max_length for enc, dec in zip(encoder_ids, decoder_ids)
            ],
        }

    def _wrap(self, ids: list[int]) -> list[int]:
        """bos + ids + eos, without doubling them when pre-tokenized ids already have them."""
        head = [] if ids and ids[0] == self.bos else [self.bos]
        tail = [] if ids and ids[-1] == self.eos else [self.eos]
        return head + ids + tail
