"""Text in, text out with a trained model of either family: generation, reconstruction, interpolation.

The model is used only through the family interface (models/family.py): the
sampler draws x0 of `model.x0_shape`, `model.encode_x0` maps a batch to its clean
x0 (posterior mean, or word embeddings), `model.decode` maps x0 to token ids.

Training's evaluation, `dmlp sample` and `dmlp score` all go through these, so a
metric means the same thing wherever it is computed.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import datasets
import torch

from dmlp_cli.data.collate import collated_batches
from dmlp_cli.data.encoding import EncodingReport, encode_corpus
from dmlp_cli.data.layouts import collator_for, layout_rows
from dmlp_cli.diffusion.samplers import Sampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.decoding import GREEDY, Decoding
from dmlp_cli.models.interpolation import interpolate, interpolation_weights


@dataclass
class Generated:
    texts: list[str]
    latents: torch.Tensor | None  # the x0 decoded; None for a causal LM, which has none
    num_tokens: list[int]
    denoise_seconds: float  # drawing z with the sampler
    decode_seconds: float   # z → token ids → text


@dataclass
class Interpolation:
    weights: list[float]  # λ of each point: 0 is the first sentence's posterior mean, 1 the second's
    texts: list[str]
    latents: torch.Tensor


def to_device(batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors of a collated batch on `device` (texts and other lists left out)."""
    return {key: value.to(device) for key, value in batch.items() if torch.is_tensor(value)}


def _synchronized_clock(device: torch.device) -> float:
    """perf_counter once the device's queued kernels are done, so stage times are not shifted by asynchrony."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def decode_texts(
    model: torch.nn.Module, z: torch.Tensor, *, tokenizer, max_length: int, decoding: Decoding = GREEDY,
    generator: torch.Generator | None = None, **template,
) -> tuple[list[str], list[int]]:
    """x0 (latents [B, d] or embedding sequences [B, L, d]) → (texts, token counts); `known=` passes an infilling
    template's (mask, ids) to the embedding family's rounding."""
    ids = model.decode(z, max_length=max_length, decoding=decoding, generator=generator, **template)
    return tokenizer.batch_decode(ids, skip_special_tokens=True), [len(row) for row in ids]


def encode_texts(
    texts: Sequence[str], *, family: str, encoder_tokenizer, decoder_tokenizer, max_length: int, batch_size: int
) -> tuple[list[dict], EncodingReport]:
    """Sentences → collated batches of the family's layout, tokenized and truncated exactly as training's data
    (one sentence a row), in input order."""
    corpus = datasets.DatasetDict({"inputs": datasets.Dataset.from_dict({"text": list(texts), "label": [-1] * len(texts)})})
    encoded, report = encode_corpus(
        corpus, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer, max_length=max_length
    )
    rows = layout_rows(encoded, family=family, max_length=max_length, packing="pad", tokenizer=decoder_tokenizer)
    collator = collator_for(family=family, encoder_tokenizer=encoder_tokenizer, decoder_tokenizer=decoder_tokenizer)
    return collated_batches(rows["inputs"], collator=collator, batch_size=batch_size), report


def infill_templates(
    templates: Sequence[str], *, tokenizer, length: int, mask_token: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Templates with `mask_token` words → (ids [N, length], known [N, length]) for infilling.

    Each row is `START words END PAD…` as in training; every position is known except those of the mask
    words, so the sentence keeps the template's length and only the blanks are generated.
    """
    ids, known = [], []
    for template in templates:
        words = template.split()
        if mask_token not in words:
            raise DmlpError(f"infill input '{template[:60]}' has no {mask_token}; mark each word to generate "
                            f"with {mask_token} (or pass mask_token=<your marker>)")
        row = [tokenizer.bos_token_id]
        for word in words:
            row += [tokenizer.pad_token_id] if word == mask_token else tokenizer(word, add_special_tokens=False)["input_ids"]
        row.append(tokenizer.eos_token_id)
        if len(row) > length:
            raise DmlpError(f"infill input '{template[:60]}' has {len(row)} tokens with START/END, more than the "
                            f"model's {length}; shorten it")
        mask = [True] + [word != mask_token for word in words] + [True]
        if len(mask) != len(row):
            raise DmlpError(f"infill input '{template[:60]}' has a word the tokenizer splits into several tokens; "
                            "the embedding family's word-level vocabulary reads one token a word")
        ids.append(row + [tokenizer.pad_token_id] * (length - len(row)))
        known.append(mask + [True] * (length - len(row)))
    return torch.tensor(ids), torch.tensor(known)


@torch.no_grad()
def generate_texts(
    model: torch.nn.Module, *, sampler: Sampler, tokenizer, num_samples: int, batch_size: int,
    generator: torch.Generator, max_length: int, decoding: Decoding = GREEDY,
    on_step: Callable[[], None] | None = None, on_batch: Callable[[int], None] | None = None,
    templates: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Generated:
    """x0 ~ p_θ(x0) by the sampler, then `decoding`; batches of `batch_size`, with the time of each stage.

    `templates` = (ids, known) of `infill_templates` infills instead (Diffusion-LM): sample i keeps template i's
    known words, which the sampler sets to their clean embeddings in x_T and after every step.
    """
    model.eval()
    device = next(model.parameters()).device
    texts, latents, lengths, denoise_seconds, decode_seconds = [], [], [], 0.0, 0.0
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        started = _synchronized_clock(device)
        known, template = None, {}
        if templates is not None:
            ids, mask = (tensor[start: start + count].to(device) for tensor in templates)
            known, template = (mask, model.encode_x0({"input_ids": ids})), {"known": (mask, ids)}
        z = sampler.sample(denoiser=model.denoiser, schedule=model.schedule, shape=model.x0_shape(count),
                           generator=generator, device=device, on_step=on_step, known=known)
        denoised = _synchronized_clock(device)
        batch_texts, batch_lengths = decode_texts(
            model, z, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator, **template
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
def sample_lm_texts(
    model: torch.nn.Module, *, tokenizer, num_samples: int, batch_size: int, generator: torch.Generator,
    max_length: int, decoding: Decoding, on_batch: Callable[[int], None] | None = None,
) -> Generated:
    """Unconditional samples of a causal LM (models/causal_lm.py), BOS to EOS, batches of `batch_size`: its
    `decode` of zero-width x0, so the rows and the decoding loop are the other families' (nothing to denoise)."""
    model.eval()
    device = next(model.parameters()).device
    texts, lengths, started = [], [], _synchronized_clock(device)
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        batch_texts, batch_lengths = decode_texts(
            model, torch.empty(count, 0, device=device), tokenizer=tokenizer, max_length=max_length,
            decoding=decoding, generator=generator,
        )
        texts += batch_texts
        lengths += batch_lengths
        if on_batch is not None:
            on_batch(count)
    return Generated(texts=texts, latents=None, num_tokens=lengths, denoise_seconds=0.0,
                     decode_seconds=_synchronized_clock(device) - started)


@torch.no_grad()
def reconstruct_batches(
    model: torch.nn.Module, *, batches: Sequence[dict], tokenizer, max_length: int, decoding: Decoding = GREEDY,
    generator: torch.Generator | None = None,
) -> tuple[list[str], list[str], torch.Tensor]:
    """Decodes the clean x0 of each input (the posterior mean μ(x), or the word embeddings, which decode by
    rounding), greedy unless told: (inputs, reconstructions, x0)."""
    model.eval()
    device = next(model.parameters()).device
    inputs, outputs, means = [], [], []
    for batch in batches:
        mu = model.encode_x0(to_device(batch, device))
        outputs += decode_texts(
            model, mu, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator
        )[0]
        inputs += list(batch["text"])
        means.append(mu.cpu())
    return inputs, outputs, torch.cat(means)


@torch.no_grad()
def interpolate_texts(
    model: torch.nn.Module, *, pair: dict, tokenizer, max_length: int, num_points: int, path: str,
    decoding: Decoding = GREEDY, generator: torch.Generator | None = None,
) -> Interpolation:
    """Decodes `num_points` latents on the `path` between the posterior means of a collated pair of sentences."""
    model.eval()
    device = next(model.parameters()).device
    mu = model.encode_x0(to_device(pair, device))
    weights = interpolation_weights(num_points)
    z = interpolate(mu[0], mu[1], weights=weights, path=path)
    texts, _ = decode_texts(model, z, tokenizer=tokenizer, max_length=max_length, decoding=decoding, generator=generator)
    return Interpolation(weights=weights.tolist(), texts=texts, latents=z.cpu())
