"""Exponential moving average of the trainable weights (Diffusion-LM keeps one with decay 0.9999).

θ_ema ← decay · θ_ema + (1 − decay) · θ after every optimizer step. The
average is kept in fp32, evaluated and sampled from in place of the raw
weights, and saved as ema.safetensors beside model.safetensors.

With `warmup` the decay of the n-th update is min(decay, (1 + n) / (10 + n)) (TensorFlow's
ExponentialMovingAverage with num_updates; diffae's and LD4LG's priors): an EMA of 0.9999 over a
run of 10k steps would otherwise still be ~37% its initialisation, since 0.9999^10000 ≈ e^−1.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from dmlp_cli.training.sharding import shard_like


class ExponentialMovingAverage:
    def __init__(self, model: nn.Module, *, decay: float, warmup: bool = False):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"trainer.ema_decay must be in (0, 1), got {decay}")
        self.decay, self.warmup, self.num_updates = decay, warmup, 0
        self.shadow = {name: p.detach().float().clone() for name, p in model.named_parameters() if p.requires_grad}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.num_updates + 1
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        current = [params[name].detach().float() for name in self.shadow]
        torch._foreach_lerp_([self.shadow[name] for name in self.shadow], current, 1.0 - self.current_decay())
        self.num_updates += 1

    @contextmanager
    @torch.no_grad()
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """The model with the averaged weights in place for the duration; the raw weights come back after."""
        params = dict(model.named_parameters())
        raw = {name: params[name].detach().clone() for name in self.shadow}
        for name in self.shadow:
            params[name].copy_(self.shadow[name])
        try:
            yield model
        finally:
            for name in self.shadow:
                params[name].copy_(raw[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA state lacks {sorted(missing)[:3]}")
        self.shadow = {name: shard_like(state[name].float(), self.shadow[name]) for name in self.shadow}  # FSDP: shards
