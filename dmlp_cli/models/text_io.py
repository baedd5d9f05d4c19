"""Text in, text out with a trained joint model: generation from p(z), reconstruction from q(z | x), interpolation.

Training's evaluation, `dmlp sample` and `dmlp score` all go through these, so a
metric means the same thing wherever it is computed.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import datasets
import torch

from dmlp_cli.data.collate import PairCollator, collated_batches
from dmlp_cli.data.encoding import EncodingReport, encode_corpus
from dmlp_cli.diffusion.samplers import Sampler
from dmlp_cli.models.decoding import GREEDY, Decoding
from dmlp_cli.models.interpolation import interpolate, interpolation_weights
from dmlp_cli.models.joint import JointLatentDiffusion


@dataclass
class Generated:
    texts: list[str]
    latents: torch.Tensor
    num_tokens: list[int]
    denoise_seconds: float  # drawing z with the sampler
    decode_seconds: float   # z → token ids → text


@dataclass
class Interpolation:
    weights: list[float]  # λ of each point: 0 is the first sentence's posterior mean, 1 the second's
    texts: list[str]
    latents: torch.Tensor


def _synchronized_clock(device: torch.device) -> float:
    """perf_counter once the device's queued kernels are done, so stage times are not shifted by asynchrony."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def decode_texts(
    model: JointLatentDiffusion, z: torch.Tensor, *, tokenizer, max_length: int, decoding: Decoding = GREEDY,
    generator: torch.Generator | None = None,
) -> tuple[list[str], list[int]]:
    """Latents [B, d] → (texts, token counts)."""
    ids = model.decode(z, max_length=max_length, decoding=decoding, generator=generator)
    return tokenizer.batch_decode(ids, skip_special_tokens=True), [len(row) for row in ids]


def encode_texts(
    texts: Sequence[str], *, encoder_tokenizer, decoder_tokenizer, max_length: int, batch_size: int
) -> tuple[list[dict], EncodingReport]:
    """Sentences → collated batches, tokenized and truncated exactly as training's data, in input order."""
    corpus = datasets.DatasetDict({"inputs": datasets.Dataset.from_dict({"text": list(texts), "label": [-1] * len(texts)})})
    encoded, report = encode_corpus(
        corpus, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer, max_length=max_length
    )
    collator = PairCollator(encoder_pad_id=encoder_tokenizer.pad_token_id, decoder_pad_id=decoder_tokenizer.pad_token_id)
    return collated_batches(encoded["inputs"], collator=collator, batch_size=batch_size), report


@torch.no_grad()
def generate_texts(
    model: JointLatentDiffusion, *, sampler: Sampler, tokenizer, num_samples: int, batch_size: int,
    generator: torch.Generator, max_length: int, decoding: Decoding = GREEDY,
    on_step: Callable[[], None] | None = None, on_batch: Callable[[int], None] | None = None,
) -> Generated:
    """z ~ p_θ(z) by the sampler, then `decoding`; batches of `batch_size`, with the time of each stage."""
    model.eval()
    device = next(model.parameters()).device
    texts, latents, lengths, denoise_seconds, decode_seconds = [], [], [], 0.0, 0.0
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        started = _synchronized_clock(device)
        z = model.sample_latents(num_samples=count, sampler=sampler, generator=generator, on_step=on_step)
        denoised = _synchronized_clock(device)
        batch_texts, batch_lengths = decode_texts(
            model, z, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator
        )
        decode_seconds += _synchronized_clock(device) - denoised
        denoise_seconds += denoised - started
        texts += batch_texts
        lengths += batch_lengths
        latents.append(z.cpu())
        if on_batch is not None:
            on_batch(count)
    return Generated(
        texts=texts, latents=torch.cat(latents), num_tokens=lengths, denoise_seconds=denoise_seconds,
        decode_seconds=decode_seconds,
    )


@torch.no_grad()
def reconstruct_batches(
    model: JointLatentDiffusion, *, batches: Sequence[dict], tokenizer, max_length: int, decoding: Decoding = GREEDY,
    generator: torch.Generator | None = None,
) -> tuple[list[str], list[str], torch.Tensor]:
    """Decodes from the posterior mean μ(x) of each input (greedy unless told): (inputs, reconstructions, μ)."""
    model.eval()
    device = next(model.parameters()).device
    inputs, outputs, means = [], [], []
    for batch in batches:
        mu, _ = model.encode(batch["encoder_ids"].to(device), batch["encoder_mask"].to(device))
        outputs += decode_texts(
            model, mu, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator
        )[0]
        inputs += list(batch["text"])
        means.append(mu.cpu())
    return inputs, outputs, torch.cat(means)


@torch.no_grad()
def interpolate_texts(
    model: JointLatentDiffusion, *, pair: dict, tokenizer, max_length: int, num_points: int, path: str,
    decoding: Decoding = GREEDY, generator: torch.Generator | None = None,
) -> Interpolation:
    """Decodes `num_points` latents on the `path` between the posterior means of a collated pair of sentences."""
    model.eval()
    device = next(model.parameters()).device
    mu, _ = model.encode(pair["encoder_ids"].to(device), pair["encoder_mask"].to(device))
    weights = interpolation_weights(num_points)
    z = interpolate(mu[0], mu[1], weights=weights, path=path)
    texts, _ = decode_texts(model, z, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator)
    return Interpolation(weights=weights.tolist(), texts=texts, latents=z.cpu())
