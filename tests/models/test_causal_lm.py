import math

import datasets
import pytest
import torch

from dmlp_cli.data.collate import PairCollator
from dmlp_cli.data.encoding import encode_corpus
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.perplexity import ScorerLM
from dmlp_cli.models.causal_lm import CausalLM
from dmlp_cli.models.decoding import Greedy, Sampling
from tests.conftest import TEXTS

SIZES = dict(hidden_size=32, num_layers=2, num_heads=4, max_position_embeddings=32, dropout=0.0)


def _model(tokenizer, *, spread: float | None = None) -> CausalLM:
    """A tiny LM; `spread` widens the init so predictions are far from uniform and an off-by-one shows."""
    torch.manual_seed(0)
    model = CausalLM(tokenizer=tokenizer, **SIZES)
    if spread is not None:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0.0, spread)
    return model.eval()


def _batch(tokenizer, texts=TEXTS) -> dict:
    """The PairCollator batch the trainer feeds, from encode_corpus rows."""
    corpus = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts, "label": [-1] * len(texts)})})
    encoded, _ = encode_corpus(corpus, encoder_tokenizer=tokenizer, decoder_tokenizer=tokenizer, max_length=32)
    collator = PairCollator(encoder_pad_id=tokenizer.pad_token_id, decoder_pad_id=tokenizer.pad_token_id)
    return collator(list(encoded["train"]))


def test_loss_is_the_token_nll_after_bos(tokenizer):
    model = _model(tokenizer, spread=0.5)
    out = model(_batch(tokenizer))
    expected_sums, expected_counts = [], []
    with torch.no_grad():
        for text in TEXTS:
            ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"],
                   tokenizer.eos_token_id]
            log_probs = model.backbone(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
            expected_sums.append(-sum(log_probs[t - 1, ids[t]].item() for t in range(1, len(ids))))
            expected_counts.append(len(ids) - 1)
    assert out.num_tokens.tolist() == expected_counts
    assert out.nll_sum.tolist() == pytest.approx(expected_sums, rel=1e-5)
    assert out.loss.item() == pytest.approx(sum(expected_sums) / sum(expected_counts), rel=1e-5)
    assert out["nll"].tolist() == pytest.approx([s / n for s, n in zip(expected_sums, expected_counts)], rel=1e-5)


def test_noise_has_no_draws(tokenizer):
    noise = _model(tokenizer).draw_noise(batch_size=3, generator=torch.Generator().manual_seed(0))
    assert noise.batch_size == 3 and noise.draws == {}


def test_saved_folder_scores_exactly_as_forward(tokenizer, tmp_path):
    model = _model(tokenizer, spread=0.5)
    with torch.no_grad():
        out = model(_batch(tokenizer))
    folder = model.save_pretrained(tmp_path / "scorer", tokenizer=tokenizer)
    assert (folder / "model.safetensors").is_file()
    result = ScorerLM(name_or_path=str(folder)).perplexity(TEXTS)
    assert result.total_tokens == int(out.num_tokens.sum())
    assert result.total_nll == pytest.approx(out.nll_sum.sum().item(), rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(out.nll_sum.sum().item() / out.num_tokens.sum().item()),
                                              rel=1e-5)


def test_a_few_steps_lower_the_loss(tokenizer):
    model = _model(tokenizer).train()
    batch = _batch(tokenizer)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(batch, model.draw_noise(batch_size=len(TEXTS), generator=None)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_sequences_past_the_positions_are_a_user_error(tokenizer):
    model = CausalLM(tokenizer=tokenizer, **{**SIZES, "max_position_embeddings": 4})
    with pytest.raises(DmlpError, match="max_length"):
        model(_batch(tokenizer))


def _argmax_loop(model, rows, max_length):
    """Reference: re-run the backbone on the whole prefix for every token, argmax, cut at EOS afterwards."""
    ids = torch.full((rows, 1), model.bos_token_id)
    with torch.no_grad():
        for _ in range(max_length - 1):
            ids = torch.cat([ids, model.backbone(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    out = ids[:, 1:].tolist()
    return [row[: row.index(model.eos_token_id)] if model.eos_token_id in row else row for row in out]


def test_decode_draws_unconditional_samples_with_the_shared_decoding_strategies(tokenizer):
    model, z = _model(tokenizer, spread=0.5), torch.empty(6, 0)
    assert model.decode(z, max_length=12, decoding=Greedy()) == _argmax_loop(model, 6, 12)
    draw = lambda seed, **options: model.decode(  # noqa: E731
        z, max_length=12, decoding=Sampling(**options), generator=torch.Generator().manual_seed(seed)
    )
    samples = draw(0)
    assert samples == draw(0) == draw(0, use_cache=False) and samples != draw(1)
    assert len({tuple(row) for row in samples}) > 1  # rows differ: each row's draws are its own
    assert all(len(row) <= 11 and model.eos_token_id not in row for row in samples)
