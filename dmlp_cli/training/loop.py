"""The training loop: a plain PyTorch loop over a model's loss, on one device or many (torchrun, DDP).

The model is any family of models/family.py (or a plain language model with the
same `draw_noise` / `forward` view); the loop logs whatever loss parts it reports.

One optimizer step consumes `global_batch_size` examples whatever the number of
processes: each of W ranks takes global_batch_size / W of them, in
micro-batches of `micro_batch_size` (gradient accumulation, with DDP's
all-reduce only on the last one). The loss noise of every example is drawn from
a generator seeded by (seed, step) and indexed by the example's place in the
global batch, so the weights after k steps do not depend on W or on the
accumulation (up to float summation order).
"""

import math
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.console import console, progress_bar
from dmlp_cli.tracking.loggers import NullLogger
from dmlp_cli.tracking.metrics_log import MetricsLog, write_eval_samples
from dmlp_cli.training.batches import (
    StepMicroBatches,
    global_positions,
    micro_batch_loader,
)
from dmlp_cli.training.distributed import DistributedContext
from dmlp_cli.training.ema import ExponentialMovingAverage
from dmlp_cli.training.optim import build_lr_schedule, build_optimizer
from dmlp_cli.training.precision import Precision
from dmlp_cli.training.preemption import Preempted, StopRequest
from dmlp_cli.training.rng import rng_state, seed_everything, set_rng_state
from dmlp_cli.training.sharding import (
    full_optimizer_state,
    full_tensor,
    full_weights,
    load_optimizer_state,
    shard_model,
    unsharded,
)

BEST_MODES = ("max", "min")
STRATEGIES = ("ddp", "fsdp")


def resolve_device(device: str, *, local_rank: int = 0) -> torch.device:
    """`auto` = this process's GPU (LOCAL_RANK under torchrun) when there is one, else the CPU."""
    if device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DmlpError(f"trainer.device={device} but no CUDA GPU is visible; use trainer.device=cpu (or auto)")
    if device == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(device)


def step_generator(*, seed: int, step: int) -> torch.Generator:
    """The generator of step `step`'s loss noise: the same on every rank, different at every step."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63))


class Trainer:
    """Optimisation settings (the `trainer` config group) and the loop that uses them.

    Gradients are clipped over the trainable parameters only: frozen ones have
    no gradient and must not count in the norm. A step whose gradient norm is
    not finite is skipped (counted and logged); `max_nonfinite_steps` of them in a
    row stop the run with an error.
    """

    def __init__(
        self,
        *,
        max_steps: int = 2000,
        global_batch_size: int = 64,
        micro_batch_size: int | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        adam_eps: float = 1e-8,
        adam_betas: list[float] = (0.9, 0.999),
        warmup_steps: int = 100,
        lr_end_ratio: float = 0.01,
        lr_power: float = 1.0,
        max_grad_norm: float = 1.0,
        precision: str = "fp32",
        strategy: str = "ddp",
        ema_decay: float | None = None,
        ema_warmup: bool = False,
        max_nonfinite_steps: int = 10,
        log_every: int = 50,
        eval_every: int = 500,
        save_every: int = 0,
        keep_last: int = 2,
        best_metric: str | None = "valid/reconstruction_bleu",
        best_mode: str = "max",
        resume: str | None = None,
        save_trainable_only: bool = False,
        device: str = "auto",
        seed: int = 0,
        num_workers: int = 0,
    ):
        if max_steps < 1 or global_batch_size < 1:
            raise DmlpError("trainer.max_steps and trainer.global_batch_size must be >= 1")
        if micro_batch_size is not None and micro_batch_size < 1:
            raise DmlpError(f"trainer.micro_batch_size must be >= 1 (or null), got {micro_batch_size}")
        if strategy not in STRATEGIES:
            raise DmlpError(f"trainer.strategy '{strategy}' is not one of {list(STRATEGIES)}")
        if best_mode not in BEST_MODES:
            raise DmlpError(f"trainer.best_mode '{best_mode}' is not one of {list(BEST_MODES)}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise DmlpError(f"trainer.ema_decay must be in (0, 1) or null, got {ema_decay}")
        self.max_steps, self.global_batch_size, self.micro_batch_size = max_steps, global_batch_size, micro_batch_size
        self.optimizer_name, self.lr, self.weight_decay = optimizer, lr, weight_decay
        self.adam_eps, self.adam_betas = adam_eps, tuple(adam_betas)
        self.warmup_steps, self.lr_end_ratio, self.lr_power = warmup_steps, lr_end_ratio, lr_power
        self.max_grad_norm, self.precision, self.ema_decay, self.ema_warmup = max_grad_norm, precision, ema_decay, ema_warmup
        self.strategy = strategy
        self.max_nonfinite_steps = max_nonfinite_steps
        self.log_every, self.eval_every, self.save_every, self.keep_last = log_every, eval_every, save_every, keep_last
        self.best_metric, self.best_mode = best_metric, best_mode
        self.resume, self.save_trainable_only = resume, save_trainable_only
        self.device_name, self.seed, self.num_workers = device, seed, num_workers

    def layout(self, world_size: int) -> tuple[int, int, int]:
        """(examples per rank per step, micro-batch size, accumulation steps) for `world_size` ranks."""
        if self.global_batch_size % world_size:
            raise DmlpError(
                f"trainer.global_batch_size={self.global_batch_size} does not split over {world_size} processes; "
                f"use a multiple of {world_size}"
            )
        per_rank = self.global_batch_size // world_size
        micro = self.micro_batch_size or per_rank
        if per_rank % micro:
            raise DmlpError(
                f"each of {world_size} processes takes {per_rank} examples per step, which micro-batches of "
                f"trainer.micro_batch_size={micro} do not divide; use a divisor of {per_rank}"
            )
        return per_rank, micro, per_rank // micro

    def is_better(self, value: float, best: float | None) -> bool:
        return best is None or (value > best if self.best_mode == "max" else value < best)

    def fit(
        self,
        *,
        model: torch.nn.Module,
        train_set,
        collator,
        run_dir: Path,
        validate: Callable[[torch.nn.Module], tuple[dict, list[str]]],
        save: Callable[..., Path],
        context: DistributedContext,
        logger=None,
        resume_state: dict | None = None,
    ) -> dict:
        """Train to max_steps (from resume_state's step if given); evaluate every eval_every and at the end;
        save every save_every, at a new best, at the end and on SIGTERM/SIGINT. `save(model=, weights=, step=,
        metrics=, trainer_state=, ema=, is_best=)` runs on rank 0 only; `weights` is the gathered state dict
        with FSDP (None otherwise: the model holds them)."""
        logger = logger or NullLogger()
        device = resolve_device(self.device_name, local_rank=context.local_rank)
        per_rank, micro, accumulation = self.layout(context.world_size)
        seed_everything(self.seed + context.rank)  # dropout differs across ranks; the loss noise does not
        model.to(device).train()
        sharded = self.strategy == "fsdp" and context.enabled
        if sharded:
            shard_model(model)  # before the optimizer and the EMA: both hold the shards
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = build_optimizer(
            trainable, name=self.optimizer_name, lr=self.lr, weight_decay=self.weight_decay, eps=self.adam_eps,
            betas=self.adam_betas,
        )
        lr_schedule = build_lr_schedule(
            optimizer, warmup_steps=self.warmup_steps, total_steps=self.max_steps, end_ratio=self.lr_end_ratio,
            power=self.lr_power,
        )
        precision = Precision(name=self.precision, device=device)
        ema = ExponentialMovingAverage(model, decay=self.ema_decay, warmup=self.ema_warmup) if self.ema_decay else None
        start, best, nonfinite_in_a_row = 0, None, 0
        if resume_state is not None:
            start, best, nonfinite_in_a_row = self._restore(
                resume_state, model=model, optimizer=optimizer, lr_schedule=lr_schedule, precision=precision, ema=ema,
                context=context, sharded=sharded,
            )
        if start >= self.max_steps:
            raise DmlpError(f"the checkpoint is at step {start}, already trainer.max_steps={self.max_steps}; "
                            "raise trainer.max_steps to train further")
        wrapped = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
            if context.enabled and not sharded else model
        micro_batches = StepMicroBatches(
            train_set, rank=context.rank, world_size=context.world_size, per_rank_batch=per_rank,
            micro_batch_size=micro, seed=self.seed, start_step=start,
        )
        batches = micro_batch_loader(train_set, collator=collator, micro_batches=micro_batches,
                                     num_workers=self.num_workers)
        metrics_log = MetricsLog(Path(run_dir) / "metrics.jsonl") if context.is_main else None
        window: dict[str, torch.Tensor | float] = {}  # summed over the steps since the last log
        window_steps, window_updates, skipped = 0, 0, 0
        started = window_start = time.perf_counter()
        last_eval: dict = {}

        def state(step: int) -> dict:
            rngs = context.gather(rng_state())
            return {
                "step": step, **micro_batches.position(step), "world_size": context.world_size,
                "global_batch_size": self.global_batch_size,
                "optimizer": full_optimizer_state(model, optimizer) if sharded else optimizer.state_dict(),
                "lr_schedule": lr_schedule.state_dict(), "scaler": precision.scaler.state_dict(), "rng": rngs,
                "best": best, "nonfinite_in_a_row": nonfinite_in_a_row,
                "ema_updates": ema.num_updates if ema else 0,
            }

        def checkpoint(step: int, *, is_best: bool = False) -> Path | None:
            trainer_state = state(step)  # collectives: every rank's RNG, and with FSDP the gathered shards
            weights = full_weights(model) if sharded else None
            averaged = {name: full_tensor(value) for name, value in ema.state_dict().items()} if ema else None
            folder = None
            if context.is_main:
                folder = save(model=model, weights=weights, step=step, metrics=last_eval, trainer_state=trainer_state,
                              ema=averaged, is_best=is_best)
            context.barrier()
            return folder

        with progress_bar(fields=True, disable=not context.is_main) as progress, StopRequest() as stop:
            task = progress.add_task("train", total=self.max_steps, completed=start, status="")
            for step in range(start + 1, self.max_steps + 1):
                noise = model.draw_noise(batch_size=self.global_batch_size,
                                         generator=step_generator(seed=self.seed, step=step))
                for index in range(accumulation):
                    batch = {k: v.to(device) for k, v in next(batches).items() if torch.is_tensor(v)}
                    rows = global_positions(micro_index=index, micro_batch_size=micro, rank=context.rank,
                                            world_size=context.world_size)
                    last_micro_batch = index == accumulation - 1
                    if sharded:
                        model.set_requires_gradient_sync(last_micro_batch)
                    sync = nullcontext() if last_micro_batch or wrapped is model else wrapped.no_sync()
                    with sync:
                        with precision.autocast():
                            out = wrapped(batch, noise.rows(rows, device=device))
                        precision.backward(out.loss / accumulation)
                    parts = {"loss": out.loss, **{name: value.mean() for name, value in out.parts.items()}}
                    for key, value in parts.items():  # tensors: one device sync per log, not per micro-batch
                        window[key] = window.get(key, 0.0) + value.detach().float() / accumulation
                precision.unscale(optimizer)
                grad_norm = full_tensor(torch.nn.utils.clip_grad_norm_(trainable, self.max_grad_norm))
                if torch.isfinite(grad_norm):  # the same on every rank: gradients are all-reduced
                    precision.step(optimizer)
                    nonfinite_in_a_row = 0
                    if ema is not None:
                        ema.update(model)
                    window["grad_norm"] = window.get("grad_norm", 0.0) + grad_norm.detach().float()
                    window_updates += 1
                else:
                    precision.skip()
                    nonfinite_in_a_row += 1
                    skipped += 1
                    if context.is_main:
                        progress.console.print(f"[yellow]step {step}: gradient norm {grad_norm.item()}, step skipped "
                                               f"({nonfinite_in_a_row} in a row)[/yellow]")
                    if nonfinite_in_a_row >= self.max_nonfinite_steps:
                        raise DmlpError(
                            f"{nonfinite_in_a_row} steps in a row had a non-finite loss or gradient (step {step}); "
                            "lower trainer.lr, use trainer.precision=bf16/fp32, or raise trainer.max_nonfinite_steps"
                        )
                optimizer.zero_grad(set_to_none=True)
                with warnings.catch_warnings():  # after a skipped step torch warns that the optimizer did not step
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                    lr_schedule.step()
                window_steps += 1

                if step % self.log_every == 0 or step == self.max_steps:
                    elapsed = time.perf_counter() - window_start
                    grad_norm_sum = window.pop("grad_norm", 0.0)  # summed over the steps that were not skipped
                    metrics = context.mean({
                        **{f"train/{key}": float(value) / window_steps for key, value in window.items()},
                        "train/grad_norm": float(grad_norm_sum) / max(window_updates, 1),
                    })
                    metrics["train/lr"] = lr_schedule.get_last_lr()[0]
                    metrics["train/samples_per_s"] = window_steps * self.global_batch_size / elapsed
                    metrics["train/skipped_steps"] = skipped
                    if context.is_main:
                        metrics_log.log(metrics, step=step)
                        logger.log(metrics, step=step)
                        shown = "  ".join(f"{name} {metrics[f'train/{name}']:.4g}" for name in parts if name != "weight")
                        progress.update(task, status=f"{shown}  {metrics['train/samples_per_s']:.0f} samples/s")
                    window, window_steps, window_updates = {}, 0, 0
                    window_start = time.perf_counter()
                progress.advance(task)

                is_best = False
                if step % self.eval_every == 0 or step == self.max_steps:
                    if sharded:  # every rank runs the evaluation: each forward gathers shards from all of them
                        with ema.applied(model) if ema else nullcontext(), unsharded(model):
                            last_eval, samples = validate(model)
                    elif context.is_main:
                        with ema.applied(model) if ema else nullcontext():
                            last_eval, samples = validate(model)
                    if context.is_main:
                        metrics_log.log(last_eval, step=step)
                        logger.log(last_eval, step=step)
                        if samples:
                            write_eval_samples(run_dir, step=step, texts=samples)
                        summary = "  ".join(f"{key.split('/')[-1]} {value:.3f}" for key, value in last_eval.items())
                        progress.console.print(f"[dim]step {step}[/dim] {summary}")
                        for text in samples[:3]:
                            progress.console.print(f"  [italic]{text}[/italic]")
                        value = last_eval.get(self.best_metric)
                        is_best = value is not None and math.isfinite(value) and self.is_better(value, best)
                        best = value if is_best else best
                    is_best, best = context.broadcast((is_best, best))
                    window_start = time.perf_counter()
                stopping = context.any(stop.requested)
                if is_best or stopping or (self.save_every and step % self.save_every == 0) or step == self.max_steps:
                    folder = checkpoint(step, is_best=is_best)
                if stopping:
                    raise Preempted(signal_name=stop.signal_name or "SIGTERM", step=step, checkpoint=str(folder))
        total = time.perf_counter() - started
        if context.is_main:
            console.print(f"trained steps {start + 1}-{self.max_steps} in {total:.0f} s")
        return {"train/wall_time_s": total, **last_eval}

    def _restore(self, state: dict, *, model, optimizer, lr_schedule, precision: Precision,
                 ema: ExponentialMovingAverage | None, context: DistributedContext,
                 sharded: bool) -> tuple[int, float | None, int]:
        if state["global_batch_size"] != self.global_batch_size:
            raise DmlpError(
                f"the checkpoint was trained with trainer.global_batch_size={state['global_batch_size']}, this run "
                f"has {self.global_batch_size}; resume with the same global batch size"
            )
        if sharded:
            load_optimizer_state(model, optimizer, state["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
        lr_schedule.load_state_dict(state["lr_schedule"])
        precision.scaler.load_state_dict(state["scaler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
            ema.num_updates = state.get("ema_updates", state["step"])
        if state["world_size"] == context.world_size:
            set_rng_state(state["rng"][context.rank])
        elif context.is_main:
            console.print(f"[yellow]the checkpoint ran on {state['world_size']} processes, this run on "
                          f"{context.world_size}: data order and loss noise continue exactly, dropout's RNG "
                          "restarts from the seed[/yellow]")
        return state["step"], state["best"], state["nonfinite_in_a_row"]
