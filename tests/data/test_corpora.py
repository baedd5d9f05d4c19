import json
from pathlib import Path

import datasets
import huggingface_hub.constants
import pytest

from dmlp_cli.data.corpora import SPLITS, HubCorpus, LocalCorpus, ToyCorpus
from dmlp_cli.errors import DmlpError

YELP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "yelp"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def records(n: int, prefix: str = "sentence") -> list[dict]:
    return [{"text": f"{prefix} {i} .", "stars": i % 2} for i in range(n)]


@pytest.fixture
def split_dir(tmp_path: Path) -> Path:
    for split, n in (("train", 20), ("valid", 4), ("test", 3)):
        write_jsonl(tmp_path / f"{split}.jsonl", records(n, prefix=split))
    return tmp_path


def assert_normalised(corpus: datasets.DatasetDict) -> None:
    assert list(corpus) == list(SPLITS)
    for split in corpus.values():
        assert split.features["text"] == datasets.Value("string")
        assert split.features["label"] == datasets.Value("int64")


def test_folder_of_split_files(split_dir):
    corpus = LocalCorpus(path=str(split_dir), label_field="stars").load()
    assert_normalised(corpus)
    assert {name: len(split) for name, split in corpus.items()} == {"train": 20, "valid": 4, "test": 3}
    assert corpus["valid"][0] == {"text": "valid 0 .", "label": 0}
    assert corpus.column_names["train"] == ["text", "label"]


def test_without_label_field_labels_are_minus_one(split_dir):
    corpus = LocalCorpus(path=str(split_dir)).load()
    assert set(corpus["train"]["label"]) == {-1}


def test_validation_alias_and_missing_test_reuses_valid(tmp_path, caplog):
    write_jsonl(tmp_path / "train.jsonl", records(10))
    write_jsonl(tmp_path / "validation.jsonl", records(3, prefix="held"))
    with caplog.at_level("INFO", logger="dmlp_cli.data.corpora"):
        corpus = LocalCorpus(path=str(tmp_path)).load()
    assert corpus["test"]["text"] == corpus["valid"]["text"] == ["held 0 .", "held 1 .", "held 2 ."]
    assert "reusing valid as test" in caplog.text


def test_missing_valid_is_carved_from_train_with_a_log_line(tmp_path, caplog):
    write_jsonl(tmp_path / "train.jsonl", records(100))
    with caplog.at_level("INFO", logger="dmlp_cli.data.corpora"):
        corpus = LocalCorpus(path=str(tmp_path), seed=3).load()
    assert (len(corpus["train"]), len(corpus["valid"])) == (95, 5)
    assert not set(corpus["train"]["text"]) & set(corpus["valid"]["text"])
    assert corpus["valid"]["text"] == LocalCorpus(path=str(tmp_path), seed=3).load()["valid"]["text"]
    assert "carved 5% of train" in caplog.text


def test_one_csv_file_with_split_ratio_is_seeded_and_sized(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("sentence,y\n" + "".join(f"review number {i},{i % 2}\n" for i in range(100)))

    def load(seed: int) -> datasets.DatasetDict:
        return LocalCorpus(
            path=str(path), text_field="sentence", label_field="y", split_ratio=[0.8, 0.1, 0.1], seed=seed
        ).load()

    corpus = load(seed=0)
    assert_normalised(corpus)
    assert [len(corpus[s]) for s in SPLITS] == [80, 10, 10]
    assert sorted(sum((corpus[s]["text"][:] for s in SPLITS), [])) == sorted(f"review number {i}" for i in range(100))
    assert corpus["train"]["text"] == load(seed=0)["train"]["text"]
    assert corpus["train"]["text"] != load(seed=1)["train"]["text"]
    assert corpus["train"]["text"] != [f"review number {i}" for i in range(80)]  # shuffled before splitting


def test_tsv_file(tmp_path):
    path = tmp_path / "data.tsv"
    path.write_text("text\tlabel\n" + "".join(f"a, b {i}\t1\n" for i in range(10)))
    corpus = LocalCorpus(path=str(path), label_field="label", split_ratio=[0.6, 0.2, 0.2]).load()
    assert corpus["valid"][0]["text"].startswith("a, b ")


def test_txt_file_has_one_example_per_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("".join(f"line {i}\n" for i in range(10)))
    corpus = LocalCorpus(path=str(path), split_ratio=[0.8, 0.2, 0.0]).load()
    assert [len(corpus[s]) for s in SPLITS] == [8, 2, 2]  # no test slice: valid is reused
    assert sorted(corpus["train"]["text"][:] + corpus["valid"]["text"][:]) == sorted(f"line {i}" for i in range(10))
    assert set(corpus["train"]["label"]) == {-1}


def test_missing_text_field_names_field_file_and_existing_fields(split_dir):
    with pytest.raises(DmlpError, match=r"dataset.text_field 'sentence' .*train.jsonl \(fields: text, stars\)"):
        LocalCorpus(path=str(split_dir), text_field="sentence").load()
    with pytest.raises(DmlpError, match=r"dataset.label_field 'label' .*fields: text, stars"):
        LocalCorpus(path=str(split_dir), label_field="label").load()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: root / "nowhere", "does not exist; pass dataset.path="),
        (lambda root: write_jsonl(root / "data.parquet", []), "extension '.parquet'"),
        (lambda root: write_jsonl(root / "valid.jsonl", records(2)).parent, "has no train file"),
        (lambda root: write_jsonl(root / "all.jsonl", records(2)), "add dataset.split_ratio="),
    ],
    ids=["missing path", "unknown extension", "folder without train", "one file without split_ratio"],
)
def test_path_mistakes_are_one_line_errors(tmp_path, setup, message):
    with pytest.raises(DmlpError, match=message) as error:
        LocalCorpus(path=str(setup(tmp_path))).load()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("ratio", [[0.5, 0.5], [0.9, 0.2, 0.1], [0.0, 0.5, 0.5], [1.2, -0.1, -0.1]])
def test_bad_split_ratio(tmp_path, ratio):
    path = write_jsonl(tmp_path / "all.jsonl", records(10))
    with pytest.raises(DmlpError, match="dataset.split_ratio must be three"):
        LocalCorpus(path=str(path), split_ratio=ratio).load()


def test_unparsable_file_is_a_dmlp_error(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "fine"}\n{"text" "broken\n')
    with pytest.raises(DmlpError, match="could not be read as json"):
        LocalCorpus(path=str(tmp_path)).load()


def test_token_fields_are_renamed_and_max_examples_caps_each_split(tmp_path):
    rows = [{"text": f"w{i}", "bert_token": [101, i, 102], "gpt2_token": [i], "extra": "dropped"} for i in range(30)]
    for split in SPLITS:
        write_jsonl(tmp_path / f"{split}.jsonl", rows)
    corpus = LocalCorpus(
        path=str(tmp_path), encoder_token_field="bert_token", decoder_token_field="gpt2_token", max_examples=7
    ).load()
    assert [len(corpus[s]) for s in SPLITS] == [7, 7, 7]
    assert corpus.column_names["train"] == ["text", "encoder_token_ids", "decoder_token_ids", "label"]
    assert corpus["train"][2]["encoder_token_ids"] == [101, 2, 102]
    assert corpus["train"].features["decoder_token_ids"] == datasets.List(datasets.Value("int64"))


def test_non_integer_labels_are_a_dmlp_error(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "y": "positive"}, {"text": "b", "y": "negative"}] * 5)
    with pytest.raises(DmlpError, match="wrong type.*label field integers"):
        LocalCorpus(path=str(tmp_path), label_field="y").load()


def test_real_yelp_files():
    if not (YELP / "train.jsonl").is_file():
        pytest.skip(f"Yelp data not found at {YELP}")
    corpus = LocalCorpus(path=str(YELP), label_field="label", max_examples=2000).load()
    assert_normalised(corpus)
    assert [len(corpus[s]) for s in SPLITS] == [2000, 2000, 2000]
    assert set(corpus["train"]["label"]) == {0, 1}
    assert all(isinstance(t, str) and t for t in corpus["valid"]["text"][:100])


@pytest.fixture
def offline(monkeypatch):
    """The hub libraries read the offline switches at import time, so set the module constants too."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)


def test_hub_failure_is_a_dmlp_error_suggesting_local_files(offline):
    with pytest.raises(DmlpError, match=r"hub dataset 'no-such-user/no-such-data' .*dataset=local dataset.path="):
        HubCorpus(name="no-such-user/no-such-data").load()


@pytest.fixture
def fake_hub(monkeypatch):
    """A DMLP-style pre-tokenized dataset served by a stand-in for `datasets.load_dataset`."""
    calls = []

    def load_dataset(name, revision=None):
        calls.append((name, revision))
        split = datasets.Dataset.from_dict(
            {
                "text": ["good food .", "bad service .", "nice place ."],
                "label": [1, 0, 1],
                "bert_token": [[101, 7, 102], [101, 8, 102], [101, 9, 102]],
                "gpt2_token": [[50258, 1, 50259], [50258, 2, 50259], [50258, 3, 50259]],
            }
        )
        return datasets.DatasetDict({"train": split, "validation": split, "test": split})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_corpus_shares_the_normalisation(fake_hub):
    corpus = HubCorpus(
        name="guangyil/yelp_short_v2",
        label_field="label",
        revision="abc123",
        encoder_token_field="bert_token",
        decoder_token_field="gpt2_token",
        max_examples=2,
    ).load()
    assert fake_hub == [("guangyil/yelp_short_v2", "abc123")]
    assert_normalised(corpus)
    assert [len(corpus[s]) for s in SPLITS] == [2, 2, 2]
    assert corpus["valid"][1] == {
        "text": "bad service .",
        "label": 0,
        "encoder_token_ids": [101, 8, 102],
        "decoder_token_ids": [50258, 2, 50259],
    }


def test_hub_missing_field_names_the_hub_split(fake_hub):
    with pytest.raises(DmlpError, match=r"'sentence' is not a field of hub dataset 'x/y' split 'train' \(fields: text"):
        HubCorpus(name="x/y", text_field="sentence").load()


def test_hub_split_names(fake_hub):
    corpus = HubCorpus(name="x/y", split_names={"valid": "test", "test": "train"}).load()
    assert len(corpus["test"]) == 3
    with pytest.raises(DmlpError, match=r"has no split\(s\) \['dev'\] \(splits: train, validation, test\)"):
        HubCorpus(name="x/y", split_names={"valid": "dev"}).load()
    with pytest.raises(DmlpError, match="keys must be among"):
        HubCorpus(name="x/y", split_names={"validation": "validation"}).load()


def test_toy_corpus_splits_come_from_different_seeds():
    pytest.importorskip("dmlp_cli.data.toy_grammar")
    corpus = ToyCorpus(num_train=200, num_valid=50, num_test=50, seed=1).load()
    assert_normalised(corpus)
    assert [len(corpus[s]) for s in SPLITS] == [200, 50, 50]
    assert corpus["valid"]["text"] != corpus["test"]["text"]
    assert corpus["train"]["text"][:50] != corpus["valid"]["text"]
    assert corpus["train"]["text"] == ToyCorpus(num_train=200, num_valid=50, num_test=50, seed=1).load()["train"]["text"]
    assert set(corpus["train"]["label"]) == {0, 1}


def test_toy_corpus_without_test_split_reuses_valid():
    pytest.importorskip("dmlp_cli.data.toy_grammar")
    corpus = ToyCorpus(num_train=100, num_valid=10, num_test=0).load()
    assert corpus["test"]["text"] == corpus["valid"]["text"]
    with pytest.raises(DmlpError, match="dataset.num_train=0"):
        ToyCorpus(num_train=0).load()
