"""Text in, text out with a trained joint model: generation from p(z) and reconstruction from q(z | x).

Training's evaluation, `dmlp sample` and `dmlp score` all go through these, so a
metric means the same thing wherever it is computed.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from dmlp_cli.diffusion.samplers import AncestralSampler
from dmlp_cli.models.joint import JointLatentDiffusion


@dataclass
class Generated:
    texts: list[str]
    latents: torch.Tensor
    num_tokens: list[int]


def _decode_texts(model: JointLatentDiffusion, z: torch.Tensor, *, tokenizer, max_length: int) -> tuple[list[str], list[int]]:
    ids = model.decode(z, max_length=max_length)
    return tokenizer.batch_decode(ids, skip_special_tokens=True), [len(row) for row in ids]


@torch.no_grad()
def generate_texts(
    model: JointLatentDiffusion, *, sampler: AncestralSampler, tokenizer, num_samples: int, batch_size: int,
    generator: torch.Generator, max_length: int, on_batch: Callable[[int], None] | None = None,
) -> Generated:
    """z ~ p_θ(z) by the sampler, then greedy decoding; batches of `batch_size`."""
    model.eval()
    texts, latents, lengths = [], [], []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        z = model.sample_latents(num_samples=count, sampler=sampler, generator=generator)
        batch_texts, batch_lengths = _decode_texts(model, z, tokenizer=tokenizer, max_length=max_length)
        texts += batch_texts
        lengths += batch_lengths
        latents.append(z.cpu())
        if on_batch is not None:
            on_batch(count)
    return Generated(texts=texts, latents=torch.cat(latents), num_tokens=lengths)


@torch.no_grad()
def reconstruct_batches(
    model: JointLatentDiffusion, *, batches: Sequence[dict], tokenizer, max_length: int
) -> tuple[list[str], list[str], torch.Tensor]:
    """Greedy decodes from the posterior mean μ(x) of each input: (inputs, reconstructions, μ)."""
    model.eval()
    device = next(model.parameters()).device
    inputs, outputs, means = [], [], []
    for batch in batches:
        mu, _ = model.encode(batch["encoder_ids"].to(device), batch["encoder_mask"].to(device))
        outputs += _decode_texts(model, mu, tokenizer=tokenizer, max_length=max_length)[0]
        inputs += list(batch["text"])
        means.append(mu.cpu())
    return inputs, outputs, torch.cat(means)
