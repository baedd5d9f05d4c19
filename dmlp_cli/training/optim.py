"""Optimizer and learning-rate schedule (DMLP: Adam, eps 1e-5, warmup then polynomial decay to 1% of lr)."""

import torch
from transformers import get_polynomial_decay_schedule_with_warmup

from dmlp_cli.errors import DmlpError

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_optimizer(
    parameters: list[torch.nn.Parameter], *, name: str, lr: float, weight_decay: float, eps: float,
    betas: tuple[float, float],
) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise DmlpError(f"trainer.optimizer '{name}' is not one of {sorted(OPTIMIZERS)}")
    if not parameters:
        raise DmlpError("no trainable parameters: model.freeze froze everything; remove a pattern from model.freeze")
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay, eps=eps, betas=tuple(betas))


def build_lr_schedule(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, end_ratio: float, power: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, then lr_t = (lr − lr_end)·(1 − progress)^power + lr_end, lr_end = end_ratio·lr."""
    lr = optimizer.param_groups[0]["lr"]
    return get_polynomial_decay_schedule_with_warmup(
        optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps, lr_end=lr * end_ratio, power=power
    )
