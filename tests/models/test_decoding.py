import math
from types import SimpleNamespace

import pytest
import torch

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.decoding import BeamSearch, Greedy, Sampling
from tests.conftest import TEXTS
from tests.models.test_latent_decoder import _batch, _decoder


def _fitted(tokenizer, inject=("embedding", "memory")):
    """A tiny decoder fitted for 40 steps to reconstruct the test sentences from 4 latents, and 8 latents:
    those 4 (decoded to EOS) and 4 random ones (some run to max_length)."""
    decoder = _decoder(tokenizer, inject=list(inject)).train()
    ids, mask = _batch(tokenizer)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
    for _ in range(40):
        nll, count = decoder.reconstruction_nll(input_ids=ids, attention_mask=mask, z=z)
        optimizer.zero_grad()
        (nll / count).mean().backward()
        optimizer.step()
    return decoder.eval(), torch.cat([z, 3 * torch.randn(4, 8, generator=torch.Generator().manual_seed(1))])


def _uncached_greedy(decoder, z, max_length):
    """Reference decoding: re-run the whole prefix for every new token, whole batch, cut at EOS afterwards."""
    ids = torch.full((z.shape[0], 1), decoder.bos_token_id)
    for _ in range(max_length - 1):
        logits = decoder(input_ids=ids, attention_mask=torch.ones_like(ids), z=z)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    rows = ids[:, 1:].tolist()
    return [row[: row.index(decoder.eos_token_id)] if decoder.eos_token_id in row else row for row in rows]


@pytest.mark.parametrize("inject", [["embedding"], ["memory"], ["embedding", "memory"]])
def test_cached_decoding_equals_uncached(tokenizer, inject):
    decoder, z = _fitted(tokenizer, inject)
    reference = _uncached_greedy(decoder, z, 12)
    assert Greedy().decode(decoder, z, max_length=12) == reference
    assert Greedy(use_cache=False).decode(decoder, z, max_length=12) == reference
    assert any(len(row) < 11 for row in reference) and any(len(row) == 11 for row in reference)  # EOS and cut rows
    sampled = [
        Sampling(top_k=5, use_cache=cache).decode(decoder, z, max_length=12, generator=torch.Generator().manual_seed(1))
        for cache in (True, False)
    ]
    assert sampled[0] == sampled[1]


def test_each_row_decodes_as_if_alone(tokenizer):
    """Rows leave the batch at their EOS; that must not change what the others decode."""
    decoder, z = _fitted(tokenizer)
    for decoding in (Greedy(), BeamSearch(num_beams=3)):
        together = decoding.decode(decoder, z, max_length=10)
        assert together == [decoding.decode(decoder, z[i:i + 1], max_length=10)[0] for i in range(len(z))]
    assert tokenizer.batch_decode(Greedy().decode(decoder, z[:4], max_length=16)) == TEXTS


def test_beam_search_with_width_1_is_greedy_and_cache_does_not_change_it(tokenizer):
    decoder, z = _fitted(tokenizer)
    assert BeamSearch(num_beams=1).decode(decoder, z, max_length=12) == Greedy().decode(decoder, z, max_length=12)
    wide = [BeamSearch(num_beams=4, use_cache=cache).decode(decoder, z, max_length=12) for cache in (True, False)]
    assert wide[0] == wide[1]


class MarkovDecoder:
    """Next-token probabilities that depend on the last token only: BOS=0, EOS=1, a=2, b=3."""

    bos_token_id, eos_token_id, max_positions = 0, 1, 16
    probs = torch.tensor([
        [1e-9, 1e-9, 0.60, 0.40],  # after BOS: a is likelier...
        [0.25, 0.25, 0.25, 0.25],
        [1e-9, 0.34, 0.33, 0.33],  # ...but after a nothing is likely: "a EOS" has p = 0.204
        [1e-9, 0.90, 0.05, 0.05],  # while "b EOS" has p = 0.36
    ]).log()

    def initial_cache(self, z):
        return None

    def step(self, *, input_ids, z, attention_mask, positions, cache):
        return SimpleNamespace(logits=self.probs[input_ids])


def test_beam_search_finds_the_likelier_sentence_greedy_misses():
    z = torch.zeros(1, 1)
    assert Greedy(use_cache=False).decode(MarkovDecoder(), z, max_length=8) == [[2]]
    for length_penalty in (0.0, 1.0):
        beam = BeamSearch(num_beams=2, length_penalty=length_penalty, use_cache=False)
        assert beam.decode(MarkovDecoder(), z, max_length=8) == [[3]]


def test_sampling_filters_are_top_k_and_nucleus_by_hand():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    nucleus = Sampling(top_p=0.7).filter(logits)  # 0.5, then 0.5 + 0.3 >= 0.7: the rest is out
    assert torch.isfinite(nucleus).tolist() == [[True, True, False, False]]
    torch.testing.assert_close(nucleus.softmax(-1), torch.tensor([[0.625, 0.375, 0.0, 0.0]], dtype=torch.float64))
    top_k = Sampling(top_k=3, temperature=2.0).filter(logits)
    torch.testing.assert_close(top_k[:, :3], logits[:, :3].double() / 2)
    assert top_k[0, 3] == -math.inf


def test_sampling_draws_from_float64_probabilities(monkeypatch):
    # exp(-104) = 6.8e-46 is below float32's smallest subnormal (1.4e-45): float32 gives that token probability 0.
    logits = torch.tensor([[0.0, -104.0]])
    assert logits.softmax(-1)[0, 1] == 0
    probs = Sampling().filter(logits).softmax(-1)
    assert probs.dtype == torch.float64 and probs[0, 1].item() == pytest.approx(math.exp(-104), rel=1e-9)
    seen, multinomial = [], torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda p, *a, **k: seen.append(p.dtype) or multinomial(p, *a, **k))
    bf16 = torch.randn(3, 50, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    draws = [Sampling(top_k=20, top_p=0.9).choose(bf16, generator=torch.Generator().manual_seed(1)) for _ in range(2)]
    assert seen == [torch.float64, torch.float64] and torch.equal(draws[0], draws[1])


def test_sampling_is_seeded_and_top_k_1_is_greedy(tokenizer):
    decoder, z = _fitted(tokenizer)
    draw = lambda decoding, seed: decoding.decode(  # noqa: E731
        decoder, z, max_length=12, generator=torch.Generator().manual_seed(seed)
    )
    assert draw(Sampling(temperature=2.0), 0) == draw(Sampling(temperature=2.0), 0)
    assert draw(Sampling(temperature=2.0), 0) != draw(Sampling(temperature=2.0), 1)
    assert draw(Sampling(top_k=1), 0) == Greedy().decode(decoder, z, max_length=12)


def test_bad_decoding_settings_are_one_line_user_errors(tokenizer):
    for make, key in ((lambda: Sampling(temperature=0.0), "temperature"), (lambda: Sampling(top_k=0), "top_k"),
                      (lambda: Sampling(top_p=1.5), "top_p"), (lambda: BeamSearch(num_beams=0), "num_beams")):
        with pytest.raises(DmlpError, match=key):
            make()
    with pytest.raises(DmlpError, match="max_length"):
        Greedy().decode(_decoder(tokenizer), torch.zeros(1, 8), max_length=1)
