"""Latents to token ids: greedy, sampled (temperature, top-k, nucleus) and beam search, batched.

Every row starts from BOS with what `decoder.initial_cache(z)` holds (z's memory
position for latent_decoder.py; nothing for a causal LM, whose z has width 0) and
leaves the batch as soon as it emits EOS, so a batch costs what its rows need.
`use_cache=False` instead re-runs the whole prefix for every new token, as DMLP does;
it gives the same tokens and is kept to measure what the cache saves.
"""

from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from dmlp_cli.errors import DmlpError


class TokenDecoder(Protocol):
    """A causal LM read token by token, conditioned on one row of z per sequence (LatentDecoder, CausalLM)."""

    bos_token_id: int
    eos_token_id: int
    max_positions: int
    backbone: torch.nn.Module

    def initial_cache(self, z: torch.Tensor) -> DynamicCache | None: ...

    def step(self, *, input_ids: torch.Tensor, z: torch.Tensor, attention_mask: torch.Tensor,
             positions: torch.Tensor, cache: DynamicCache | None): ...


def max_new_tokens(decoder: TokenDecoder, max_length: int) -> int:
    """Tokens to generate after BOS so that BOS + tokens fits both `max_length` and the decoder's positions."""
    if max_length < 2:
        raise DmlpError(f"max_length must be >= 2 (BOS and one token), got {max_length}")
    return min(max_length, decoder.max_positions) - 1


class Prefixes:
    """The rows being decoded: tokens so far ([rows, length], BOS first), latents and, if cached, the KV cache."""

    def __init__(self, decoder: TokenDecoder, z: torch.Tensor, *, use_cache: bool):
        self.decoder, self.z, self.use_cache = decoder, z, use_cache
        self.tokens = torch.full((z.shape[0], 1), decoder.bos_token_id, dtype=torch.long, device=z.device)
        self.cache = (decoder.initial_cache(z) or DynamicCache(config=decoder.backbone.config)) if use_cache else None
        self.num_cached = 0

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def next_logits(self) -> torch.Tensor:
        """Logits [rows, vocab] of each row's next token: one new position with the cache, the whole prefix without."""
        start = self.num_cached if self.use_cache else 0
        positions = torch.arange(start, self.tokens.shape[1], device=self.tokens.device).expand(len(self), -1)
        out = self.decoder.step(
            input_ids=self.tokens[:, start:], z=self.z, attention_mask=torch.ones_like(self.tokens),
            positions=positions, cache=self.cache if self.use_cache else self.decoder.initial_cache(self.z),
        )
        if self.use_cache:
            self.cache, self.num_cached = out.past_key_values, self.tokens.shape[1]
        return out.logits[:, -1]

    def append(self, tokens: torch.Tensor) -> None:
        self.tokens = torch.cat([self.tokens, tokens.unsqueeze(1)], dim=1)

    def select(self, rows: torch.Tensor) -> None:
        """Keep these rows, in this order; a row may repeat (beams)."""
        self.tokens, self.z = self.tokens[rows], self.z[rows]
        if self.cache is not None:
            self.cache.batch_select_indices(rows)


def _device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """The CPU generator itself on CPU; on an accelerator a generator there, seeded from it (reproducible, no copies)."""
    if generator is None or device.type == "cpu":
        return generator
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


class Decoding:
    """How latents become token ids (BOS and EOS stripped), one list per latent."""

    def __init__(self, *, use_cache: bool = True):
        self.use_cache = use_cache

    def decode(
        self, decoder: TokenDecoder, z: torch.Tensor, *, max_length: int, generator: torch.Generator | None = None
    ) -> list[list[int]]:
        raise NotImplementedError


class TokenByToken(Decoding):
    """Strategies that pick each row's next token from its logits alone; greedy and sampling share this loop."""

    def choose(self, logits: torch.Tensor, *, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def decode(self, decoder, z, *, max_length, generator=None):
        prefixes = Prefixes(decoder, z, use_cache=self.use_cache)
        generator = _device_generator(generator, z.device)
        rows = torch.arange(z.shape[0])  # which latent each remaining prefix belongs to
        results: list[list[int]] = [[] for _ in rows]
        for _ in range(max_new_tokens(decoder, max_length)):
            tokens = self.choose(prefixes.next_logits(), generator=generator)
            prefixes.append(tokens)
            ended = (tokens == decoder.eos_token_id).cpu()
            if ended.any():
                for index in ended.nonzero().squeeze(1).tolist():
                    results[rows[index]] = prefixes.tokens[index, 1:-1].tolist()
                rows = rows[~ended]
                prefixes.select((~ended).nonzero().squeeze(1).to(z.device))
                if not len(rows):
                    break
        for index, row in enumerate(rows.tolist()):
            results[row] = prefixes.tokens[index, 1:].tolist()
        return results


class Greedy(TokenByToken):
    """The most likely next token; what reconstruction BLEU is defined with."""

    def choose(self, logits, *, generator):
        return logits.argmax(-1)


class Sampling(TokenByToken):
    """Sample the next token from softmax(logits / temperature), restricted to the `top_k` most likely tokens
    and to the smallest set whose probability reaches `top_p` (nucleus sampling, Holtzman et al., 2020)."""

    def __init__(
        self, *, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, **kwargs
    ):
        if temperature <= 0:
            raise DmlpError(f"decoding.temperature must be > 0 (use decoding=greedy for argmax), got {temperature}")
        if top_k is not None and top_k < 1:
            raise DmlpError(f"decoding.top_k must be >= 1 or null, got {top_k}")
        if top_p is not None and not 0 < top_p <= 1:
            raise DmlpError(f"decoding.top_p must be in (0, 1] or null, got {top_p}")
        super().__init__(**kwargs)
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def filter(self, logits: torch.Tensor) -> torch.Tensor:
        """float64 logits / temperature with every token outside the top-k and the nucleus set to −inf.

        float64 because a categorical draw in float32 (or bf16) truncates the tail of the distribution and so
        lowers the effective temperature: Zheng et al. (2024, "Masked Diffusion Models are Secretly Time-Agnostic
        Masked Models and Exploit Inaccurate Categorical Sampling") find that float32 Gumbel sampling lowers
        perplexity from 82-132 to 28-54 on MDLM, through lost diversity rather than better text.
        """
        logits = logits.to(torch.float64) / self.temperature
        if self.top_k is not None and self.top_k < logits.shape[-1]:
            kth = logits.topk(self.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p is not None:
            sorted_logits, order = logits.sort(dim=-1, descending=True)
            probs = sorted_logits.softmax(-1)
            outside = probs.cumsum(-1) - probs >= self.top_p  # the mass before this token already reaches top_p
            logits = logits.masked_fill(outside.scatter(-1, order, outside), float("-inf"))
        return logits

    def choose(self, logits, *, generator):
        """One draw per row from the float64 softmax of the filtered logits."""
        return torch.multinomial(self.filter(logits).softmax(-1), 1, generator=generator).squeeze(1)


class BeamSearch(Decoding):
    """Beam search: keep the `num_beams` most likely prefixes of each row, ranked by summed log-probability.

    A hypothesis ends when EOS ranks among a row's `num_beams` best continuations; it
    is scored by its log-probability / length^length_penalty (length counts EOS), and a
    row stops once it holds `num_beams` ended hypotheses. Width 1 is greedy decoding.
    """

    def __init__(self, *, num_beams: int = 4, length_penalty: float = 1.0, **kwargs):
        if num_beams < 1:
            raise DmlpError(f"decoding.num_beams must be >= 1, got {num_beams}")
        super().__init__(**kwargs)
        self.num_beams, self.length_penalty = num_beams, length_penalty

    @torch.no_grad()
    def decode(self, decoder, z, *, max_length, generator=None):
        beams, device = self.num_beams, z.device
        prefixes = Prefixes(decoder, z.repeat_interleave(beams, dim=0), use_cache=self.use_cache)
        scores = torch.full((z.shape[0], beams), float("-inf"), device=device)
        scores[:, 0] = 0.0  # every beam starts as the same BOS: expand only one of them at first
        rows = list(range(z.shape[0]))  # which latent each remaining group of beams belongs to
        ended: list[list[tuple[float, list[int]]]] = [[] for _ in rows]
        num_steps = max_new_tokens(decoder, max_length)
        for step in range(num_steps):
            log_probs = F.log_softmax(prefixes.next_logits().float(), dim=-1)
            vocab = log_probs.shape[-1]
            candidates = (scores.unsqueeze(-1) + log_probs.view(len(rows), beams, vocab)).view(len(rows), -1)
            top_scores, top = candidates.topk(2 * beams, dim=-1)  # at most `beams` of them are EOS
            parent, token = top // vocab, top % vocab
            is_eos = token == decoder.eos_token_id
            finishing = is_eos & (torch.arange(2 * beams, device=device) < beams) & top_scores.isfinite()
            for group, rank in finishing.nonzero().tolist():
                tokens = prefixes.tokens[group * beams + parent[group, rank], 1:].tolist()
                ended[rows[group]].append((top_scores[group, rank].item() / (step + 1) ** self.length_penalty, tokens))
            survivors = torch.sort(is_eos.to(torch.uint8), dim=-1, stable=True).indices[:, :beams]
            scores = top_scores.gather(1, survivors)
            parents = torch.arange(len(rows), device=device).unsqueeze(1) * beams + parent.gather(1, survivors)
            prefixes.select(parents.view(-1))
            prefixes.append(token.gather(1, survivors).view(-1))
            done = [len(ended[row]) >= beams for row in rows]
            if any(done):
                keep = [group for group, finished in enumerate(done) if not finished]
                rows, scores = [rows[group] for group in keep], scores[keep]
                prefixes.select((torch.tensor(keep, dtype=torch.long).unsqueeze(1) * beams + torch.arange(beams)).view(-1).to(device))
                if not rows:
                    break
        for group, row in enumerate(rows):  # out of length: the surviving beams end here
            for beam in range(beams):
                if scores[group, beam].isfinite():
                    tokens = prefixes.tokens[group * beams + beam, 1:].tolist()
                    ended[row].append((scores[group, beam].item() / num_steps ** self.length_penalty, tokens))
        return [max(hypotheses, key=lambda hypothesis: hypothesis[0])[1] for hypotheses in ended]


GREEDY = Greedy()
