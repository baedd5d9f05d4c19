"""The training-time denoiser call, with self-conditioning when the denoiser takes it (both families use it).

A self-conditioning denoiser sees [x_t, x̂_0], x̂_0 being its own previous estimate (zeros when there is
none). In training, for the examples a fair coin marks, x̂_0 is first estimated without gradient and
then fed back; the others get zeros. The denoiser so learns both to start from nothing and to refine,
which is what the samplers ask of it (Chen et al., 2022, "Analog Bits", §3.2).
"""

import torch
from torch import nn

from dmlp_cli.diffusion.schedules import NoiseSchedule


def denoise(
    denoiser: nn.Module, *, schedule: NoiseSchedule, x_t: torch.Tensor, t: torch.Tensor, self_condition: torch.Tensor
) -> torch.Tensor:
    """The denoiser's output in float32; `self_condition` [B] (bool) marks the examples that get an estimate."""
    if not getattr(denoiser, "self_conditioning", False):
        return denoiser(x_t, t).float()
    estimate = torch.zeros_like(x_t)
    if self_condition.any():
        with torch.no_grad():
            x_s, t_s = x_t[self_condition], t[self_condition]
            estimate[self_condition] = schedule.predict_x0(x_s, t_s, denoiser(x_s, t_s).float()).to(x_t.dtype)
    return denoiser(x_t, t, self_cond=estimate).float()
