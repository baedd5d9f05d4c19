"""`dmlp sample`: a checkpoint → latents from the DDPM → decoded texts in samples.jsonl."""

import json
import time
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from dmlp_cli.data.jsonl import write_jsonl
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.text_io import generate_texts
from dmlp_cli.tracking.console import console, progress_bar
from dmlp_cli.training.checkpoint import load_checkpoint
from dmlp_cli.training.loop import resolve_device


def sample(cfg: DictConfig) -> Path:
    if cfg.n < 1 or cfg.batch_size < 1:
        raise DmlpError(f"n and batch_size must be >= 1, got n={cfg.n} batch_size={cfg.batch_size}")
    device = resolve_device(cfg.device)
    checkpoint = load_checkpoint(cfg.ckpt, device=device)
    sampler = instantiate(cfg.sampler)
    max_length = cfg.max_length or checkpoint.config.max_length
    output = Path(cfg.output) if cfg.output else Path(HydraConfig.get().runtime.output_dir) / "samples.jsonl"
    generator = torch.Generator().manual_seed(cfg.seed)
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task("sample", total=cfg.n)
        generated = generate_texts(
            checkpoint.model, sampler=sampler, tokenizer=checkpoint.decoder_tokenizer, num_samples=cfg.n,
            batch_size=cfg.batch_size, generator=generator, max_length=max_length,
            on_batch=lambda count: progress.advance(task, count),
        )
    elapsed = time.perf_counter() - started
    norms = generated.latents.norm(dim=-1).tolist()
    write_jsonl(output, [
        {"index": i, "text": text, "num_tokens": length, "latent_norm": norm}
        for i, (text, length, norm) in enumerate(zip(generated.texts, generated.num_tokens, norms))
    ])
    meta = {
        "ckpt": str(checkpoint.path), "step": checkpoint.meta.get("step"), "dataset": checkpoint.config.dataset._target_,
        "sampler": cfg.sampler._target_, "steps": sampler.num_steps(checkpoint.model.schedule), "top_p": cfg.top_p,
        "seed": cfg.seed, "n": cfg.n, "seconds": elapsed, "samples_per_s": cfg.n / elapsed,
    }
    output.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
    console.print(f"{cfg.n} samples in {elapsed:.1f} s ({cfg.n / elapsed:.1f}/s) with "
                  f"{meta['steps']} denoising steps")
    for text in generated.texts[:5]:
        console.print(f"  [italic]{text}[/italic]")
    console.print(f"wrote {output}")
    console.print(f"next: dmlp score samples={output}")
    return output
