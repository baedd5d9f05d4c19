"""A DDPM over latent vectors: p(z) for the latent family, trainable on its own.

    loss = mean_b[ mean_k w(t_bk) · ‖f(x_t, t_bk) − target‖² ],   x_t = sqrt(ᾱ_t) z̃ + sqrt(1 − ᾱ_t) ε,

with z̃ = (z − m) / s the normalised latent (models/latent_normalization.py), w(t) the loss
weighting (diffusion/loss_weighting.py), K = `diffusion_repeats` timesteps per latent, and f
self-conditioned when the denoiser takes it (diffusion/self_conditioning.py).

JointLatentDiffusion (models/joint.py) is this plus an autoencoder; the prior stage trains this
part alone on batches of cached posteriors {latent_mean: μ, latent_logvar: log σ²}, drawing
z = μ + σε afresh at every step (training/latent_cache.py). Data with no posterior noise (a
synthetic benchmark) is the same batch with σ = 0, i.e. log σ² = −inf.
"""

import torch
from torch import nn

from dmlp_cli.diffusion.loss_weighting import LOSS_WEIGHTINGS, loss_weight
from dmlp_cli.diffusion.schedules import NoiseSchedule
from dmlp_cli.diffusion.self_conditioning import denoise
from dmlp_cli.diffusion.timestep_sampling import TimestepSampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.family import LossNoise, LossParts
from dmlp_cli.models.latent_connector import LatentConnector
from dmlp_cli.models.latent_normalization import LatentNormalization


class LatentPrior(nn.Module):
    family = "latent"

    def __init__(
        self, *, denoiser: nn.Module, schedule: NoiseSchedule, latent_dim: int, diffusion_repeats: int = 1,
        loss_weighting: str = "uniform", min_snr_gamma: float = 5.0, sigmoid_bias: float = 0.0,
        timestep_sampling: str = "uniform",
    ):
        super().__init__()
        if diffusion_repeats < 1:
            raise DmlpError(f"model.diffusion_repeats must be >= 1, got {diffusion_repeats}")
        self.denoiser, self.schedule, self.latent_dim, self.diffusion_repeats = denoiser, schedule, latent_dim, diffusion_repeats
        self.normalization = LatentNormalization(latent_dim)
        self.set_objective(loss_weighting=loss_weighting, min_snr_gamma=min_snr_gamma, sigmoid_bias=sigmoid_bias,
                           timestep_sampling=timestep_sampling)

    def set_objective(self, *, loss_weighting: str, min_snr_gamma: float, sigmoid_bias: float,
                      timestep_sampling: str) -> None:
        """How the denoising loss is weighted over timesteps and which are drawn, for the current schedule (the
        prior stage sets it again after replacing the schedule)."""
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise DmlpError(f"model.loss_weighting '{loss_weighting}' is not one of {list(LOSS_WEIGHTINGS)}")
        self.loss_weighting, self.min_snr_gamma, self.sigmoid_bias = loss_weighting, min_snr_gamma, sigmoid_bias
        self.timesteps = TimestepSampler(kind=timestep_sampling, num_timesteps=self.schedule.num_timesteps)

    def draw_noise(self, *, batch_size: int, generator: torch.Generator) -> LossNoise:
        """ε for z [B, d], and K = diffusion_repeats timesteps [B·K] with their loss weights (timestep_sampling),
        noises [B·K, d] and self-conditioning coins [B·K] per latent."""
        k, d = self.diffusion_repeats, self.latent_dim
        latent = torch.randn(batch_size, d, generator=generator)
        timesteps, timestep_weight = self.timesteps.draw(batch_size * k, generator=generator)
        return LossNoise(batch_size=batch_size, draws={
            "latent": latent, "timesteps": timesteps, "timestep_weight": timestep_weight,
            "diffusion": torch.randn(batch_size * k, d, generator=generator),
            "self_condition": torch.rand(batch_size * k, generator=generator) < 0.5,
        })

    def diffusion_loss(self, z: torch.Tensor, noise: LossNoise) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted denoising MSE of the normalised z per latent [B], averaged over `diffusion_repeats`
        independent timesteps each.

        The expectation is the same as with one timestep; the variance is lower, and the
        denoiser (small next to encoder and decoder) gets K times the training signal
        from each encoded batch. Also returns the timesteps, [B·K], grouped by latent.
        """
        z = self.normalization.normalize(z).repeat_interleave(self.diffusion_repeats, dim=0)
        t = noise["timesteps"]
        x_t = self.schedule.add_noise(z, noise["diffusion"], t)  # float32 even when z comes out of bf16 autocast
        prediction = denoise(self.denoiser, schedule=self.schedule, x_t=x_t, t=t,
                             self_condition=noise["self_condition"])
        mse = (prediction - self.schedule.target(z, noise["diffusion"], t)).pow(2).mean(-1)
        mse = mse * loss_weight(self.schedule.snr(t), kind=self.loss_weighting,
                                prediction_type=self.schedule.prediction_type, gamma=self.min_snr_gamma,
                                bias=self.sigmoid_bias)
        if self.training:
            self.timesteps.observe(t, mse)
        mse = mse * noise["timestep_weight"]
        return mse.view(-1, self.diffusion_repeats).mean(-1), t

    def forward(self, batch: dict[str, torch.Tensor], noise: LossNoise) -> LossParts:
        """The diffusion loss alone on a batch of cached posteriors: z = μ + σε with ε drawn anew at every step."""
        z = LatentConnector.sample(batch["latent_mean"], batch["latent_logvar"], noise["latent"])
        diffusion, _ = self.diffusion_loss(z, noise)
        no_tokens = torch.zeros_like(diffusion)
        return LossParts(loss=diffusion.mean(), parts={"diffusion": diffusion}, nll_sum=no_tokens,
                         num_tokens=no_tokens)

    def x0_shape(self, num_samples: int) -> tuple[int, ...]:
        return (num_samples, self.latent_dim)
