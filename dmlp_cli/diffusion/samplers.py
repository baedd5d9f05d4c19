"""Reverse-process samplers: from x_T ~ N(0, I) to x_0 with a trained denoiser."""

from collections.abc import Callable

import torch
from diffusers import DDIMScheduler
from torch import nn

from dmlp_cli.diffusion.noise import TruncatedNoise
from dmlp_cli.diffusion.schedules import NoiseSchedule
from dmlp_cli.errors import DmlpError


class AncestralSampler:
    """Ancestral DDPM sampling (Ho et al., 2020, Alg. 2), optionally respaced to fewer steps.

    Each step draws x_{t−1} ~ q(x_{t−1} | x_t, x̂_0) with the posterior variance
    β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t. That is diffusers' DDIM step with
    η = 1 (Song et al., 2021, eq. 16), which also takes the step's noise as
    `variance_noise`: so truncated noise goes in without touching the scheduler,
    and fewer steps give the respaced DDPM of Nichol & Dhariwal (2021).
    The scheduler is fed x̂_0 (whatever the denoiser predicts is converted first),
    which keeps one code path for every prediction target.
    """

    def __init__(self, *, steps: int | None = None, top_p: float | None = None, truncate_initial: bool = False):
        if steps is not None and steps < 1:
            raise DmlpError(f"steps must be >= 1 (or null for every training timestep), got {steps}")
        self.steps = steps
        self.noise = TruncatedNoise(top_p=top_p)
        self.initial_noise = self.noise if truncate_initial else TruncatedNoise()

    def scheduler_for(self, schedule: NoiseSchedule) -> DDIMScheduler:
        steps = self.steps or schedule.num_timesteps
        if steps > schedule.num_timesteps:
            raise DmlpError(f"steps={steps} exceeds the model's {schedule.num_timesteps} training timesteps; use steps<={schedule.num_timesteps}")
        scheduler = DDIMScheduler(
            num_train_timesteps=schedule.num_timesteps,
            trained_betas=schedule.betas.tolist(),
            prediction_type="sample",
            clip_sample=False,
            set_alpha_to_one=True,
            timestep_spacing="trailing",
        )
        scheduler.set_timesteps(steps)
        return scheduler

    @torch.no_grad()
    def sample(
        self,
        *,
        denoiser: nn.Module,
        schedule: NoiseSchedule,
        shape: tuple[int, ...],
        generator: torch.Generator,
        device: torch.device | str = "cpu",
        on_step: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        scheduler = self.scheduler_for(schedule)
        x = self.initial_noise.sample(shape, generator=generator, device=device)
        for t in scheduler.timesteps:
            t_batch = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
            x0 = schedule.predict_x0(x, t_batch, denoiser(x, t_batch))
            noise = self.noise.sample(shape, generator=generator, device=device, dtype=x.dtype)
            x = scheduler.step(x0, t, x, eta=1.0, variance_noise=noise).prev_sample
            if on_step is not None:
                on_step()
        return x

    def num_steps(self, schedule: NoiseSchedule) -> int:
        return self.steps or schedule.num_timesteps
