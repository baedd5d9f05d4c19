"""`dmlp sample`: a checkpoint → decoded texts as jsonl, in one of four modes.

    generate     n samples x0 ~ p_θ(x0) from the sampler, decoded              → samples.jsonl
                 (a causal LM checkpoint: n samples from BOS to EOS, decoding=sampling)
    reconstruct  each input's clean x0 decoded (posterior mean μ(x); rounding)  → reconstructions.jsonl
    interpolate  k points between two sentences' μ(x), decoded (latent family)  → interpolation.jsonl
    infill       each input's mask words generated, the rest kept (embedding)   → infills.jsonl

`mbr=k` (generate, infill) draws k candidates per output and keeps the minimum-Bayes-risk one.

Each writes a .meta.json beside its jsonl (settings, stage times, peak memory); `seed` makes every mode reproducible.
"""

import itertools
import json
import resource
import sys
import time
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.progress import Progress, TaskID

from dmlp_cli.data.jsonl import read_texts, write_jsonl
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.bleu import corpus_bleu
from dmlp_cli.evaluation.mbr import mbr_pick
from dmlp_cli.models.build import build_sampler
from dmlp_cli.models.decoding import Decoding, Sampling
from dmlp_cli.models.text_io import (
    Generated,
    encode_texts,
    generate_texts,
    infill_templates,
    interpolate_texts,
    reconstruct_batches,
    sample_lm_texts,
)
from dmlp_cli.tracking.console import console, progress_bar
from dmlp_cli.training.checkpoint import Checkpoint, load_checkpoint
from dmlp_cli.training.loop import resolve_device

OUTPUT_NAMES = {"generate": "samples.jsonl", "reconstruct": "reconstructions.jsonl", "interpolate": "interpolation.jsonl",
                "infill": "infills.jsonl"}
# Modes that only one family can do: interpolation needs one vector per sentence, infilling one x0 per word.
MODE_FAMILIES = {"interpolate": "latent", "infill": "embedding"}


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory torch allocated on a GPU; on CPU the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _input_texts(cfg: DictConfig) -> list[str]:
    """The non-empty sentences of `inputs`, checked against what the mode needs."""
    if cfg.mode == "generate":
        return []
    if cfg.inputs is None:
        raise DmlpError(f"mode={cfg.mode} needs inputs=<.txt file, a sentence a line, or .jsonl file with '{cfg.text_field}'>")
    texts = [text for text in read_texts(cfg.inputs, field=cfg.text_field) if text and text.strip()]
    if not texts:
        raise DmlpError(f"inputs file '{cfg.inputs}' has no sentences; put one sentence on each line")
    unmasked = [i for i, text in enumerate(texts, 1) if cfg.mode == "infill" and cfg.mask_token not in text.split()]
    if unmasked:
        raise DmlpError(f"mode=infill: sentence {unmasked[0]} of '{cfg.inputs}' has no {cfg.mask_token}; mark every "
                        f"word to generate with {cfg.mask_token} (or set mask_token=<your marker>)")
    if cfg.mode == "interpolate" and len(texts) != 2:
        raise DmlpError(f"mode=interpolate needs exactly two sentences in '{cfg.inputs}', found {len(texts)}")
    return texts


def _encode(texts: list[str], *, checkpoint: Checkpoint, max_length: int, batch_size: int) -> list[dict]:
    batches, report = encode_texts(
        texts, family=checkpoint.model.family, encoder_tokenizer=checkpoint.encoder_tokenizer, decoder_tokenizer=checkpoint.decoder_tokenizer,
        max_length=max_length, batch_size=batch_size,
    )
    console.print(f"[bold]encoded[/bold] {report.summary()}")
    return batches


def _denoise(
    cfg: DictConfig, *, model, tokenizer, texts: list[str], num_samples: int, decoding: Decoding, max_length: int,
    generator: torch.Generator, progress: Progress, task: TaskID,
) -> tuple[Generated, dict]:
    """x0 from the sampler (infill: held at each template's known words), decoded; the sampler's settings."""
    sampler = build_sampler(cfg.sampler, model=model)
    steps = sampler.num_steps(model.schedule)
    templates = None
    if cfg.mode == "infill":
        ids, known = infill_templates(texts, tokenizer=tokenizer, length=model.x0_shape(1)[1], mask_token=cfg.mask_token)
        templates = (ids.repeat_interleave(cfg.mbr, dim=0), known.repeat_interleave(cfg.mbr, dim=0))
    done_steps = itertools.count(1)

    def on_step() -> None:
        step = next(done_steps) % steps
        progress.update(task, status=f"denoising step {step}/{steps}" if step else "decoding")

    generated = generate_texts(
        model, sampler=sampler, tokenizer=tokenizer, num_samples=num_samples, batch_size=cfg.batch_size,
        generator=generator, max_length=max_length, decoding=decoding, on_step=on_step,
        on_batch=lambda count: progress.advance(task, count), templates=templates,
    )
    return generated, {"sampler": cfg.sampler._target_, "steps": steps, "top_p": cfg.top_p,
                       "clamp": cfg.sampler.clamp._target_ if cfg.sampler.get("clamp") else None}


def _sample_lm(
    cfg: DictConfig, *, model, tokenizer, texts: list[str], num_samples: int, decoding: Decoding, max_length: int,
    generator: torch.Generator, progress: Progress, task: TaskID,
) -> tuple[Generated, dict]:
    """A causal LM's unconditional samples, BOS to EOS: no sampler, so no sampler settings."""
    progress.update(task, status="decoding")
    return sample_lm_texts(
        model, tokenizer=tokenizer, num_samples=num_samples, batch_size=cfg.batch_size, generator=generator,
        max_length=max_length, decoding=decoding, on_batch=lambda count: progress.advance(task, count),
    ), {}


def _generate(
    cfg: DictConfig, *, checkpoint: Checkpoint, decoding: Decoding, max_length: int, generator: torch.Generator,
    texts: list[str],
) -> tuple[list[dict], dict]:
    """generate: n outputs; infill: one per input. With mbr=k, k candidates each and the MBR choice kept."""
    model = checkpoint.model
    outputs = len(texts) if cfg.mode == "infill" else cfg.n
    draw = _sample_lm if model.family == "causal_lm" else _denoise
    with progress_bar(fields=True) as progress:
        task = progress.add_task("sample", total=outputs * cfg.mbr, status="")
        generated, meta = draw(
            cfg, model=model, tokenizer=checkpoint.decoder_tokenizer, texts=texts, num_samples=outputs * cfg.mbr,
            decoding=decoding, max_length=max_length, generator=generator, progress=progress, task=task,
        )
        progress.update(task, status="")
    chosen = mbr_pick(generated.texts, k=cfg.mbr) if cfg.mbr > 1 else list(range(outputs))
    norms = generated.latents.flatten(1).norm(dim=-1).tolist() if generated.latents is not None else None
    records = [{"index": i, **({"input": texts[i]} if cfg.mode == "infill" else {}), "text": generated.texts[j],
                "num_tokens": generated.num_tokens[j], **({"latent_norm": norms[j]} if norms else {})}
               for i, j in enumerate(chosen)]
    for record in records[:5]:
        console.print(f"  [italic]{record['text']}[/italic]")
    return records, {**meta, "n": len(records), "mbr": cfg.mbr, "denoise_seconds": generated.denoise_seconds,
                     "decode_seconds": generated.decode_seconds}


def _reconstruct(
    cfg: DictConfig, *, checkpoint: Checkpoint, decoding: Decoding, max_length: int, generator: torch.Generator,
    texts: list[str],
) -> tuple[list[dict], dict]:
    batches = _encode(texts, checkpoint=checkpoint, max_length=max_length, batch_size=cfg.batch_size)
    inputs, outputs, means = reconstruct_batches(
        checkpoint.model, batches=batches, tokenizer=checkpoint.decoder_tokenizer, max_length=max_length,
        decoding=decoding, generator=generator,
    )
    bleu = corpus_bleu(outputs, inputs)
    for source, text in list(zip(inputs, outputs))[:5]:
        console.print(f"  {source}  [dim]->[/dim]  [italic]{text}[/italic]")
    console.print(f"reconstruction BLEU {bleu:.1f} on {len(inputs)} sentences")
    records = [
        {"index": i, "input": source, "text": text, "latent_norm": norm}
        for i, (source, text, norm) in enumerate(zip(inputs, outputs, means.norm(dim=-1).tolist()))
    ]
    return records, {"n": len(records), "reconstruction_bleu": bleu}


def _interpolate(
    cfg: DictConfig, *, checkpoint: Checkpoint, decoding: Decoding, max_length: int, generator: torch.Generator,
    texts: list[str],
) -> tuple[list[dict], dict]:
    (pair,) = _encode(texts, checkpoint=checkpoint, max_length=max_length, batch_size=2)
    result = interpolate_texts(
        checkpoint.model, pair=pair, tokenizer=checkpoint.decoder_tokenizer, max_length=max_length,
        num_points=cfg.k, path=cfg.path, decoding=decoding, generator=generator,
    )
    for weight, text in zip(result.weights, result.texts):
        console.print(f"  {weight:.2f}  [italic]{text}[/italic]")
    records = [
        {"index": i, "weight": weight, "text": text, "latent_norm": norm}
        for i, (weight, text, norm) in enumerate(zip(result.weights, result.texts, result.latents.norm(dim=-1).tolist()))
    ]
    return records, {"n": len(records), "inputs": texts, "path": cfg.path}


MODES = {"generate": _generate, "reconstruct": _reconstruct, "interpolate": _interpolate, "infill": _generate}


def _check_causal_lm(cfg: DictConfig, *, checkpoint: Checkpoint, decoding: Decoding) -> None:
    """A causal LM only generates, by sampling: every row starts from the same BOS, so greedy or beam decoding
    would give n copies of one text; and it has no diffusion noise for steps/top_p to act on."""
    if cfg.mode != "generate":
        raise DmlpError(f"mode={cfg.mode} needs a diffusion model's x0, and '{checkpoint.path}' holds a causal LM, "
                        "which only samples unconditionally; use mode=generate decoding=sampling")
    if not isinstance(decoding, Sampling):
        raise DmlpError("greedy and beam decoding give n identical samples from a causal LM (every row starts from "
                        "the same BOS); pass decoding=sampling (temperature 1 draws from the model)")
    if cfg.steps is not None or cfg.top_p is not None:
        raise DmlpError("steps= and top_p= set the diffusion sampler, which a causal LM does not have; drop them "
                        "(nucleus sampling of tokens is decoding.top_p=P)")


def _check_family(cfg: DictConfig, *, checkpoint: Checkpoint, decoding: Decoding) -> None:
    family = checkpoint.model.family
    if family == "causal_lm":
        _check_causal_lm(cfg, checkpoint=checkpoint, decoding=decoding)
    elif MODE_FAMILIES.get(cfg.mode, family) != family:
        raise DmlpError(f"mode={cfg.mode} is for the {MODE_FAMILIES[cfg.mode]} family, and '{checkpoint.path}' holds a "
                        f"{family}-family model; use mode=generate or reconstruct")


def _decoding_options(node: DictConfig) -> dict:
    """What the decoding group sets beyond its class and cache (temperature, top_k, top_p; num_beams, ...)."""
    return {key: value for key, value in OmegaConf.to_container(node).items() if key not in ("_target_", "use_cache")}


def sample(cfg: DictConfig) -> Path:
    if cfg.mode not in MODES:
        raise DmlpError(f"mode '{cfg.mode}' is not one of {', '.join(MODES)}; pass mode=generate, reconstruct, "
                        "interpolate or infill")
    if cfg.n < 1 or cfg.batch_size < 1 or cfg.mbr < 1:
        raise DmlpError(f"n, batch_size and mbr must be >= 1, got n={cfg.n} batch_size={cfg.batch_size} mbr={cfg.mbr}")
    texts = _input_texts(cfg)
    device = resolve_device(cfg.device)
    started = time.perf_counter()
    checkpoint = load_checkpoint(cfg.ckpt, device=device)
    decoding = instantiate(cfg.decoding)
    _check_family(cfg, checkpoint=checkpoint, decoding=decoding)
    loaded = time.perf_counter()
    max_length = cfg.max_length or checkpoint.config.max_length
    output = Path(cfg.output) if cfg.output else Path(HydraConfig.get().runtime.output_dir) / OUTPUT_NAMES[cfg.mode]
    generator = torch.Generator().manual_seed(cfg.seed)
    records, mode_meta = MODES[cfg.mode](
        cfg, checkpoint=checkpoint, decoding=decoding, max_length=max_length, generator=generator, texts=texts
    )
    write_jsonl(output, records)
    elapsed = time.perf_counter() - loaded
    meta = {
        "mode": cfg.mode, "family": checkpoint.model.family, "ckpt": str(checkpoint.path),
        "step": checkpoint.meta.get("step"),
        "dataset": checkpoint.config.dataset._target_, "decoding": cfg.decoding._target_,
        "use_cache": cfg.decoding.use_cache, "decoding_options": _decoding_options(cfg.decoding),
        "max_length": max_length, "seed": cfg.seed, **mode_meta,
        "load_seconds": loaded - started, "seconds": elapsed, "texts_per_s": len(records) / elapsed,
        "device": str(device), "peak_memory_bytes": peak_memory_bytes(device),
    }
    output.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
    steps = f" with {meta['steps']} denoising steps" if "steps" in meta else ""
    console.print(f"{len(records)} texts in {elapsed:.1f} s ({meta['texts_per_s']:.1f}/s){steps}")
    console.print(f"wrote {output}")
    if cfg.mode in ("generate", "infill"):
        console.print(f"next: dmlp score samples={output}")
    return output
