"""Fixtures over tests/training/helpers.py: the tiny toy training set, its collator and a model factory."""

import pytest
from datasets import Dataset

from dmlp_cli.data.collate import PairCollator
from tests.training.helpers import tiny_training_model, toy_training_set

NUM_EXAMPLES = 96


@pytest.fixture(scope="module")
def toy_data() -> tuple[object, Dataset]:
    return toy_training_set(NUM_EXAMPLES)


@pytest.fixture(scope="module")
def train_set(toy_data) -> Dataset:
    return toy_data[1]


@pytest.fixture(scope="module")
def collator(toy_data) -> PairCollator:
    tokenizer, _ = toy_data
    return PairCollator(encoder_pad_id=tokenizer.pad_token_id, decoder_pad_id=tokenizer.pad_token_id)


@pytest.fixture
def make_model(toy_data):
    tokenizer, _ = toy_data
    return lambda **model_overrides: tiny_training_model(tokenizer, **model_overrides)
