"""Shared fixtures: tiny tokenizers and models built here (no hub access), and the shared data folder."""

from pathlib import Path

import pytest

from dmlp_cli.data.tokenizers import TrainedTokenizer

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

WORDS = "the pasta was great and staff were friendly but fries cold waiter nice i loved it".split()
TEXTS = [
    "the pasta was great .",
    "the staff were friendly and the pasta was great .",
    "the fries were cold but the waiter was nice .",
    "i loved it .",
]


@pytest.fixture(scope="session")
def tokenizer():
    """A word-level tokenizer with <pad>/<unk>/<s>/</s>, trained on a few review sentences."""
    return TrainedTokenizer(model="wordlevel").build(texts=TEXTS)


@pytest.fixture
def yelp_dir() -> Path:
    folder = SHARED_DATA / "yelp"
    if not (folder / "train.jsonl").is_file():
        pytest.skip(f"shared Yelp data not found at {folder}")
    return folder
