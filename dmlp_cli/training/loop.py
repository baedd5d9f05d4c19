"""The training loop: a plain PyTorch loop over the joint loss, with evaluation, logging and checkpoints."""

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.joint import JointLatentDiffusion
from dmlp_cli.tracking.console import console, progress_bar
from dmlp_cli.tracking.loggers import NullLogger
from dmlp_cli.tracking.metrics_log import MetricsLog
from dmlp_cli.training.optim import build_lr_schedule, build_optimizer


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DmlpError(f"trainer.device={device} but no CUDA GPU is visible; use trainer.device=cpu (or auto)")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Optimisation settings (from the `trainer` config group) and the loop that uses them.

    Gradients are clipped over the trainable parameters only: frozen ones have
    no gradient and must not count in the norm.
    """

    def __init__(
        self,
        *,
        max_steps: int = 2000,
        global_batch_size: int = 64,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        adam_eps: float = 1e-8,
        adam_betas: list[float] = (0.9, 0.999),
        warmup_steps: int = 100,
        lr_end_ratio: float = 0.01,
        lr_power: float = 1.0,
        max_grad_norm: float = 1.0,
        log_every: int = 50,
        eval_every: int = 500,
        save_every: int = 0,
        device: str = "auto",
        seed: int = 0,
        num_workers: int = 0,
    ):
        if max_steps < 1 or global_batch_size < 1:
            raise DmlpError("trainer.max_steps and trainer.global_batch_size must be >= 1")
        self.max_steps, self.global_batch_size = max_steps, global_batch_size
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.adam_eps, self.adam_betas = adam_eps, tuple(adam_betas)
        self.warmup_steps, self.lr_end_ratio, self.lr_power = warmup_steps, lr_end_ratio, lr_power
        self.max_grad_norm = max_grad_norm
        self.log_every, self.eval_every, self.save_every = log_every, eval_every, save_every
        self.device, self.seed, self.num_workers = resolve_device(device), seed, num_workers

    def batches(self, dataset, collator) -> Iterator[dict]:
        """Endless shuffled batches, epoch after epoch, in an order fixed by the seed."""
        if len(dataset) < self.global_batch_size:
            raise DmlpError(
                f"the training split has {len(dataset)} examples, fewer than trainer.global_batch_size="
                f"{self.global_batch_size}; lower the batch size or add data"
            )
        generator = torch.Generator().manual_seed(self.seed)
        loader = DataLoader(
            dataset, batch_size=self.global_batch_size, shuffle=True, drop_last=True, collate_fn=collator,
            generator=generator, num_workers=self.num_workers,
        )
        while True:
            yield from loader

    def fit(
        self,
        *,
        model: JointLatentDiffusion,
        train_set,
        collator,
        run_dir: Path,
        validate: Callable[[JointLatentDiffusion], tuple[dict, list[str]]],
        save: Callable[[JointLatentDiffusion, int, dict], Path],
        logger=None,
    ) -> dict:
        """Train for max_steps; evaluate every eval_every and at the end; save every save_every and at the end."""
        logger = logger or NullLogger()
        seed_everything(self.seed)
        model.to(self.device).train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(
            trainable, name=self.optimizer_name, lr=self.lr, weight_decay=self.weight_decay, eps=self.adam_eps,
            betas=self.adam_betas,
        )
        schedule = build_lr_schedule(
            optimizer, warmup_steps=self.warmup_steps, total_steps=self.max_steps, end_ratio=self.lr_end_ratio,
            power=self.lr_power,
        )
        metrics_log = MetricsLog(Path(run_dir) / "metrics.jsonl")
        batches = self.batches(train_set, collator)
        window, window_steps = dict.fromkeys(("loss", "reconstruction", "diffusion", "kl", "grad_norm"), 0.0), 0
        started = window_start = time.perf_counter()
        last_eval: dict = {}
        with progress_bar(fields=True) as progress:
            task = progress.add_task("train", total=self.max_steps, status="")
            for step in range(1, self.max_steps + 1):
                batch = {k: v.to(self.device) for k, v in next(batches).items() if torch.is_tensor(v)}
                out = model(batch)
                if not torch.isfinite(out.loss):
                    raise DmlpError(
                        f"loss became {out.loss.item()} at step {step}; lower trainer.lr or trainer.max_grad_norm"
                    )
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(trainable, self.max_grad_norm)
                optimizer.step()
                schedule.step()

                parts = {"loss": out.loss, "reconstruction": out.reconstruction.mean(), "diffusion": out.diffusion.mean(),
                         "kl": out.kl.mean(), "grad_norm": grad_norm}
                for key, value in parts.items():  # tensors: one device sync per log, not per step
                    window[key] = window[key] + value.detach().float()
                window_steps += 1
                if step % self.log_every == 0 or step == self.max_steps:
                    elapsed = time.perf_counter() - window_start
                    metrics = {f"train/{key}": float(value) / window_steps for key, value in window.items()}
                    metrics["train/lr"] = schedule.get_last_lr()[0]
                    metrics["train/samples_per_s"] = window_steps * self.global_batch_size / elapsed
                    metrics_log.log(metrics, step=step)
                    logger.log(metrics, step=step)
                    progress.update(
                        task,
                        status=f"loss {metrics['train/loss']:.3f} rec {metrics['train/reconstruction']:.3f} "
                        f"ddpm {metrics['train/diffusion']:.4f} {metrics['train/samples_per_s']:.0f} samples/s",
                    )
                    window, window_steps = dict.fromkeys(window, 0.0), 0
                    window_start = time.perf_counter()
                progress.advance(task)

                if step % self.eval_every == 0 or step == self.max_steps:
                    last_eval, samples = validate(model)
                    metrics_log.log(last_eval, step=step)
                    logger.log(last_eval, step=step)
                    summary = "  ".join(f"{key.split('/')[-1]} {value:.3f}" for key, value in last_eval.items())
                    progress.console.print(f"[dim]step {step}[/dim] {summary}")
                    for text in samples[:3]:
                        progress.console.print(f"  [italic]{text}[/italic]")
                    window_start = time.perf_counter()
                if (self.save_every and step % self.save_every == 0) or step == self.max_steps:
                    save(model, step, last_eval)
        total = time.perf_counter() - started
        console.print(f"trained {self.max_steps} steps in {total:.0f} s")
        return {"train/wall_time_s": total, **last_eval}
