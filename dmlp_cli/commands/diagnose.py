"""`dmlp diagnose`: is it the latent prior or the decoder? A latent-family checkpoint → two tables → diagnosis.json.

What each row measures and why: evaluation/latent_prior_diagnosis.py. The validity rows need the toy corpus's
grammar oracle; on any other corpus only the denoising errors are reported.
"""

from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from rich.table import Table

from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.data.jsonl import write_json
from dmlp_cli.diffusion.samplers import Sampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.latent_prior_diagnosis import (
    VALIDITY_ROWS,
    denoising_rows,
    diffusion_space_latents,
    validity_rows,
)
from dmlp_cli.models.build import build_sampler
from dmlp_cli.models.text_io import generate_texts
from dmlp_cli.tracking.console import console, progress_bar
from dmlp_cli.training.checkpoint import Checkpoint, load_checkpoint
from dmlp_cli.training.loop import resolve_device


def _check_family(checkpoint: Checkpoint) -> None:
    family = getattr(checkpoint.model, "family", None)
    if family == "embedding":
        raise DmlpError(f"'{checkpoint.path}' holds an embedding-family (Diffusion-LM) model, which diffuses word "
                        "embeddings and has no latent prior to diagnose; measure its samples with `dmlp score`")
    if family != "latent":
        raise DmlpError(f"'{checkpoint.path}' holds a {family} model, which has no latent prior to diagnose; pass a "
                        "latent-family checkpoint of `dmlp train`")


def _prior_texts(checkpoint: Checkpoint, *, sampler: Sampler, n: int, batch_size: int, max_length: int,
                 generator: torch.Generator) -> list[str]:
    with progress_bar() as progress:
        task = progress.add_task("prior samples", total=n)
        generated = generate_texts(
            checkpoint.model, sampler=sampler, tokenizer=checkpoint.decoder_tokenizer, num_samples=n,
            batch_size=batch_size, generator=generator, max_length=max_length,
            on_batch=lambda count: progress.advance(task, count),
        )
    return generated.texts


def _validity_table(report: dict) -> Table:
    labels = {**VALIDITY_ROWS, "prior_samples": f"{VALIDITY_ROWS['prior_samples']} "
                                                f"({report['sampler'].rsplit('.', 1)[-1]}, {report['steps']} steps)"}
    table = Table("latents decoded", "grammar-valid", "syntax-valid", title="decoded sentences (toy grammar oracle)")
    for key, row in report["valid_rates"].items():
        table.add_row(labels[key], f"{row['grammar_valid_rate']:.1%}", f"{row['syntax_valid_rate']:.1%}")
    return table


def _denoising_table(report: dict) -> Table:
    table = Table("timestep", "ᾱ_t", "prior ‖x̂0 − x0‖²", "Wiener ‖x̂0 − x0‖²", "prior / Wiener",
                  title=f"denoising {report['num_held_out']} held-out latents")
    for step, row in report["denoising_squared_error"].items():
        table.add_row(step, f"{row['alpha_bar']:.3f}", f"{row['learned']:.3f}", f"{row['wiener']:.3f}",
                      f"{row['learned'] / row['wiener']:.2f}")
    return table


def diagnose(cfg: DictConfig) -> Path:
    if cfg.n < 1 or cfg.batch_size < 1:
        raise DmlpError(f"n and batch_size must be >= 1, got n={cfg.n} batch_size={cfg.batch_size}")
    checkpoint = load_checkpoint(cfg.ckpt, device=resolve_device(cfg.device))
    _check_family(checkpoint)
    corpus = instantiate(checkpoint.config.dataset)
    splits = corpus.load()
    max_length, generator = int(checkpoint.config.max_length), torch.Generator().manual_seed(cfg.seed)
    held_out = splits["test"]["text"][: cfg.n]
    held_out_means, held_out_samples = diffusion_space_latents(
        checkpoint, held_out, max_length=max_length, batch_size=cfg.batch_size, generator=generator,
    )
    report = {"checkpoint": str(checkpoint.path), "step": checkpoint.meta.get("step"),
              "dataset": checkpoint.config.dataset._target_, "seed": cfg.seed, "num_held_out": len(held_out)}
    if isinstance(corpus, ToyCorpus):
        sampler = build_sampler(cfg.sampler, model=checkpoint.model)
        console.print(f"encoding the {len(splits['train'])} training sentences for the Gaussian fit")
        _, training_samples = diffusion_space_latents(
            checkpoint, splits["train"]["text"], max_length=max_length, batch_size=cfg.batch_size, generator=generator,
        )
        prior_texts = _prior_texts(checkpoint, sampler=sampler, n=cfg.n, batch_size=cfg.batch_size,
                                   max_length=max_length, generator=generator)
        report |= {"sampler": cfg.sampler._target_, "steps": sampler.num_steps(checkpoint.model.schedule),
                   "top_p": cfg.top_p, "n": cfg.n}
        report["valid_rates"] = validity_rows(
            checkpoint, held_out_means=held_out_means, held_out_samples=held_out_samples,
            training_samples=training_samples, prior_texts=prior_texts, max_length=max_length,
            batch_size=cfg.batch_size, generator=generator,
        )
    else:
        report["valid_rates"] = None
        console.print(f"validity rows need the toy corpus's grammar oracle and '{checkpoint.path}' was trained on "
                      f"{type(corpus).__name__}: reporting the denoising errors only")
    report["denoising_squared_error"] = denoising_rows(
        checkpoint.model, held_out_samples=held_out_samples, generator=generator,
    )
    output = Path(cfg.output) if cfg.output else Path(HydraConfig.get().runtime.output_dir) / "diagnosis.json"
    write_json(output, report)
    if report["valid_rates"] is not None:
        console.print(_validity_table(report))
    console.print(_denoising_table(report))
    console.print(f"wrote {output}")
    return output
