import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.latent_decoder import LatentDecoder
from tests.conftest import TEXTS

SIZES = dict(hidden_size=32, num_layers=2, num_heads=4, max_position_embeddings=32, dropout=0.0)


def _decoder(tokenizer, **kwargs):
    torch.manual_seed(0)
    return LatentDecoder(tokenizer=tokenizer, latent_dim=8, **{**SIZES, **kwargs}).eval()


def _batch(tokenizer):
    rows = [[tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id] for t in TEXTS]
    width = max(map(len, rows))
    ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return ids, mask


@pytest.mark.parametrize("inject", [["embedding"], ["memory"], ["embedding", "memory"]])
def test_z_changes_the_logits_through_each_path_alone(tokenizer, inject):
    decoder = _decoder(tokenizer, inject=inject)
    ids, mask = _batch(tokenizer)
    z = torch.randn(len(TEXTS), 8)
    a = decoder(input_ids=ids, attention_mask=mask, z=z)
    b = decoder(input_ids=ids, attention_mask=mask, z=z + 1.0)
    assert (a - b).abs().max() > 1e-3


def test_each_path_can_be_switched_off(tokenizer):
    assert _decoder(tokenizer, inject=["embedding"]).memory_proj is None
    assert _decoder(tokenizer, inject=["memory"]).embedding_proj is None
    with pytest.raises(DmlpError, match="inject"):
        _decoder(tokenizer, inject=["cross_attention"])


def test_reconstruction_nll_ignores_padding(tokenizer):
    decoder = _decoder(tokenizer)
    ids, mask = _batch(tokenizer)
    z = torch.randn(len(TEXTS), 8)
    nll, count = decoder.reconstruction_nll(input_ids=ids, attention_mask=mask, z=z)
    for row in range(len(TEXTS)):
        length = int(mask[row].sum())
        alone, alone_count = decoder.reconstruction_nll(
            input_ids=ids[row:row + 1, :length], attention_mask=mask[row:row + 1, :length], z=z[row:row + 1]
        )
        assert count[row] == alone_count[0] == length - 1
        assert nll[row].item() == pytest.approx(alone[0].item(), rel=1e-5)


def test_pretrained_gpt2_loads_through_the_hub_path(tokenizer, tmp_path):
    """What `decoder.name_or_path=gpt2` does, on a tiny GPT-2 saved to a folder."""
    reference = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4, n_positions=32))
    reference.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    decoder = LatentDecoder(tokenizer=tokenizer, latent_dim=8, name_or_path=str(tmp_path), pretrained=True)
    torch.testing.assert_close(decoder.backbone.transformer.wte.weight, reference.transformer.wte.weight)
    architecture_only = LatentDecoder(tokenizer=tokenizer, latent_dim=8, name_or_path=str(tmp_path), pretrained=False)
    assert architecture_only.backbone.config.n_layer == 2
    assert not torch.equal(architecture_only.backbone.transformer.wte.weight, reference.transformer.wte.weight)


def test_missing_model_folder_is_one_line_user_error(tokenizer, tmp_path):
    with pytest.raises(DmlpError, match="decoder.name_or_path") as error:
        LatentDecoder(tokenizer=tokenizer, latent_dim=8, name_or_path=str(tmp_path / "nope"))
    assert "\n" not in str(error.value)


def test_tokenizer_larger_than_the_embedding_table_is_refused(tokenizer, tmp_path):
    GPT2LMHeadModel(GPT2Config(vocab_size=5, n_embd=32, n_layer=1, n_head=4)).save_pretrained(tmp_path)
    with pytest.raises(DmlpError, match="embedding table"):
        LatentDecoder(tokenizer=tokenizer, latent_dim=8, name_or_path=str(tmp_path))
