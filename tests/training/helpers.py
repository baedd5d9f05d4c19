"""A tiny deterministic training setup (toy-grammar sentences, no dropout), shared by fixtures and spawned ranks."""

import torch
from datasets import Dataset

from dmlp_cli.data.tokenizers import TrainedTokenizer
from dmlp_cli.data.toy_grammar import ToyGrammar
from tests.models.helpers import tiny_config, tiny_model


def toy_training_set(num_examples: int) -> tuple[object, Dataset]:
    """A word-level tokenizer trained on `num_examples` toy sentences, and those sentences encoded for training."""
    texts = [record["text"] for record in ToyGrammar().generate(num_sentences=num_examples, seed=0)]
    tokenizer = TrainedTokenizer(model="wordlevel").build(texts=texts)
    rows = [{"encoder_ids": tokenizer(t)["input_ids"][:16],
             "decoder_ids": [tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"][:14],
                             tokenizer.eos_token_id],
             "label": 0, "text": t} for t in texts]
    return tokenizer, Dataset.from_list(rows)


def tiny_training_model(tokenizer, **model_overrides) -> torch.nn.Module:
    """The same weights every call (seeded), without dropout, so runs are comparable."""
    config = tiny_config(**model_overrides)
    config.encoder.dropout = config.decoder.dropout = 0.0
    torch.manual_seed(0)
    return tiny_model(tokenizer, config)
