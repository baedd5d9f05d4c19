"""A tiny deterministic training setup (no dropout) on toy-grammar sentences, for loop and checkpoint tests."""

import pytest
from datasets import Dataset

from dmlp_cli.data.collate import PairCollator
from dmlp_cli.data.tokenizers import TrainedTokenizer
from dmlp_cli.data.toy_grammar import ToyGrammar
from tests.models.helpers import tiny_config, tiny_model

NUM_EXAMPLES = 96


@pytest.fixture(scope="module")
def toy_tokenizer():
    texts = [record["text"] for record in ToyGrammar().generate(num_sentences=NUM_EXAMPLES, seed=0)]
    return TrainedTokenizer(model="wordlevel").build(texts=texts), texts


@pytest.fixture(scope="module")
def train_set(toy_tokenizer) -> Dataset:
    tokenizer, texts = toy_tokenizer
    rows = [{"encoder_ids": tokenizer(t)["input_ids"][:16],
             "decoder_ids": [tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"][:14],
                             tokenizer.eos_token_id],
             "label": 0, "text": t} for t in texts]
    return Dataset.from_list(rows)


@pytest.fixture(scope="module")
def collator(toy_tokenizer) -> PairCollator:
    tokenizer, _ = toy_tokenizer
    return PairCollator(encoder_pad_id=tokenizer.pad_token_id, decoder_pad_id=tokenizer.pad_token_id)


@pytest.fixture
def make_model(toy_tokenizer):
    """A fresh tiny model, the same weights every call (seeded), without dropout so runs are comparable."""
    import torch

    tokenizer, _ = toy_tokenizer

    def make(**model_overrides):
        config = tiny_config(**model_overrides)
        config.encoder.dropout = 0.0
        config.decoder.dropout = 0.0
        torch.manual_seed(0)
        return tiny_model(tokenizer, config)

    return make
