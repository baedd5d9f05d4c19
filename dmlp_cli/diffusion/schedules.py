"""Noise schedules: the β_1..β_T of the forward process, and the prediction target.

The schedules are ours (they are what the papers differ in); the noise math
that uses them (adding noise, velocities, sampler steps) comes from diffusers
schedulers fed with these betas through `trained_betas`.

Forward process (Ho et al., 2020, eq. 4):  x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε,
with ᾱ_t = Π_{s<=t} (1 − β_s).
"""

import math
from collections.abc import Callable

import torch
from diffusers import DDPMScheduler

from dmlp_cli.errors import DmlpError

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def at_least_float32(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """The tensors in float32 (float64 stays): under bf16 autocast a latent arrives in bf16, and noise math in
    bf16 rounds ᾱ_t, so that 1 − ᾱ_t is 0 for the first timesteps of a linear schedule (x_t gets no noise)."""
    dtype = torch.promote_types(tensors[0].dtype, torch.float32)
    return [tensor.to(dtype) for tensor in tensors]


def betas_from_alpha_bar(alpha_bar: Callable[[float], float], *, num_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """β_t = min(1 − ᾱ(t/T) / ᾱ((t−1)/T), max_beta): discretises a continuous ᾱ(t) (Nichol & Dhariwal, 2021, eq. 17)."""
    betas = [
        min(1.0 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), max_beta)
        for i in range(num_timesteps)
    ]
    return torch.tensor(betas, dtype=torch.float64)


def shift_logsnr(betas: torch.Tensor, *, shift: float) -> torch.Tensor:
    """The betas whose log-SNR is the given ones' plus `shift` at every t: log(ᾱ'/(1 − ᾱ')) = log(ᾱ/(1 − ᾱ)) + s,
    i.e. ᾱ' = sigmoid(logit(ᾱ) + s), β'_t = 1 − ᾱ'_t / ᾱ'_{t−1} (Hoogeboom et al., 2023, "simple diffusion", §3.1).

    A negative shift spends more of the steps at high noise, where the coarse structure of the data is decided;
    simple diffusion shifts by 2·log(64 / resolution), so that larger inputs are not under-noised.
    """
    if shift == 0.0:
        return betas
    alpha_bar = torch.sigmoid(torch.logit(torch.cumprod(1.0 - betas, dim=0)) + shift)
    previous = torch.cat([torch.ones(1, dtype=alpha_bar.dtype), alpha_bar[:-1]])
    return 1.0 - alpha_bar / previous


class NoiseSchedule:
    """β schedule plus the denoiser's prediction target; everything the forward process and samplers need.

    `logsnr_shift` moves the whole schedule's log-SNR by a constant (`shift_logsnr`).
    """

    def __init__(self, *, num_timesteps: int = 2000, prediction_type: str = "epsilon", logsnr_shift: float = 0.0):
        if num_timesteps < 1:
            raise DmlpError(f"schedule.num_timesteps must be >= 1, got {num_timesteps}")
        if prediction_type not in PREDICTION_TYPES:
            raise DmlpError(
                f"schedule.prediction_type '{prediction_type}' is not one of {', '.join(PREDICTION_TYPES)}"
            )
        self.num_timesteps = num_timesteps
        self.prediction_type = prediction_type
        self.logsnr_shift = logsnr_shift
        self.betas = shift_logsnr(self.make_betas().to(torch.float64), shift=logsnr_shift)
        if not bool(((self.betas > 0) & (self.betas < 1)).all()):
            raise DmlpError(f"{type(self).__name__} gives betas outside (0, 1); check the schedule's settings")
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self._scheduler = DDPMScheduler(
            num_train_timesteps=num_timesteps,
            trained_betas=self.betas.tolist(),
            prediction_type=prediction_type,
            clip_sample=False,
        )

    def make_betas(self) -> torch.Tensor:
        raise NotImplementedError

    def snr(self, t: torch.Tensor) -> torch.Tensor:
        """SNR(t) = ᾱ_t / (1 − ᾱ_t) per timestep, float32 on t's device: what loss weightings are functions of."""
        alpha_bar = self.alphas_cumprod.to(t.device)[t]
        return (alpha_bar / (1 - alpha_bar)).float()

    def _alpha_bar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """ᾱ_t gathered per sample and shaped to broadcast against `like` ([B, ...])."""
        alpha_bar = self.alphas_cumprod.to(like.device)[t.to(like.device)].to(like.dtype)
        return alpha_bar.view(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, in float32 or wider whatever the inputs' dtype."""
        x0, noise = at_least_float32(x0, noise)
        return self._scheduler.add_noise(x0, noise, t)

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser regresses on: ε, x_0, or v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0 (Salimans & Ho, 2022)."""
        x0, noise = at_least_float32(x0, noise)
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "sample":
            return x0
        return self._scheduler.get_velocity(x0, noise, t)

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, model_output: torch.Tensor) -> torch.Tensor:
        """x̂_0 from any prediction target, so samplers can clamp x̂_0 whatever the denoiser predicts."""
        x_t, model_output = at_least_float32(x_t, model_output)
        if self.prediction_type == "sample":
            return model_output
        alpha_bar = self._alpha_bar(t, x_t)
        if self.prediction_type == "epsilon":
            return (x_t - (1 - alpha_bar).sqrt() * model_output) / alpha_bar.sqrt()
        return alpha_bar.sqrt() * x_t - (1 - alpha_bar).sqrt() * model_output


class LinearSchedule(NoiseSchedule):
    """β linear from beta_start to beta_end (DDPM's 1e-4 → 0.02)."""

    def __init__(self, *, beta_start: float = 1e-4, beta_end: float = 0.02, **kwargs):
        self.beta_start, self.beta_end = beta_start, beta_end
        super().__init__(**kwargs)

    def make_betas(self) -> torch.Tensor:
        return torch.linspace(self.beta_start, self.beta_end, self.num_timesteps, dtype=torch.float64)


class CosineSchedule(NoiseSchedule):
    """ᾱ(t) = cos²(((t + s) / (1 + s)) · π/2) (Nichol & Dhariwal, 2021, eq. 17)."""

    def __init__(self, *, offset: float = 0.008, **kwargs):
        self.offset = offset
        super().__init__(**kwargs)

    def make_betas(self) -> torch.Tensor:
        s = self.offset
        return betas_from_alpha_bar(
            lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2, num_timesteps=self.num_timesteps
        )


class SqrtSchedule(NoiseSchedule):
    """Diffusion-LM's ᾱ(t) = 1 − sqrt(t/T + 1e-4): noise rises fast at first, so rounding is learned early (Li et al., 2022, §4.2)."""

    def make_betas(self) -> torch.Tensor:
        return betas_from_alpha_bar(lambda t: 1 - math.sqrt(t + 1e-4), num_timesteps=self.num_timesteps)


class ConstantSchedule(NoiseSchedule):
    """β_t = beta for every t; DMLP uses 0.008 on its latents."""

    def __init__(self, *, beta: float = 0.008, **kwargs):
        self.beta = beta
        super().__init__(**kwargs)

    def make_betas(self) -> torch.Tensor:
        return torch.full((self.num_timesteps,), self.beta, dtype=torch.float64)
