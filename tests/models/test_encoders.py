import pytest
import torch
from transformers import BertConfig, BertModel

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.encoders import PooledEncoder

SIZES = dict(hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position_embeddings=32, dropout=0.0)


def test_mean_pool_ignores_padding(tokenizer):
    encoder = PooledEncoder(tokenizer=tokenizer, **SIZES).eval()
    ids = torch.tensor([[2, 5, 6, 3]])
    padded = torch.tensor([[2, 5, 6, 3, 0, 0]])
    alone = encoder(ids, torch.ones_like(ids))
    with_pad = encoder(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
    torch.testing.assert_close(alone, with_pad, rtol=1e-5, atol=1e-5)
    assert alone.shape == (1, 32)


def test_pretrained_bert_loads_through_the_hub_path(tokenizer, tmp_path):
    """What `encoder.name_or_path=prajjwal1/bert-small` does, on a tiny BERT saved to a folder."""
    reference = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64))
    reference.save_pretrained(tmp_path)
    encoder = PooledEncoder(tokenizer=tokenizer, name_or_path=str(tmp_path), pretrained=True)
    torch.testing.assert_close(
        encoder.backbone.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight
    )
    assert encoder.backbone.pooler is None
    assert encoder.hidden_size == 32


def test_missing_model_folder_is_a_user_error(tokenizer, tmp_path):
    with pytest.raises(DmlpError, match="encoder.name_or_path"):
        PooledEncoder(tokenizer=tokenizer, name_or_path=str(tmp_path / "missing"))
