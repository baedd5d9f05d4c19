"""The joint model: a text autoencoder to a latent z, plus a DDPM on z, trained together (DMLP / EDDPM).

    loss = mean_b[ w(t_b) · rec_b ] + ddpm_weight · mean_b[ diff_b ] + kl_weight · mean_b[ kl_b ]

rec_b is sample b's reconstruction NLL per token, diff_b its denoising MSE at its
own timestep t_b, and w(t_b) a per-sample weight. Everything is [B] until the
final means; DMLP multiplies a [B, 1] weight by a [B] loss, which broadcasts to
[B, B] and mixes samples: here shapes are asserted.

diff_b is the LatentPrior's loss (models/latent_prior.py: normalised latents, loss weighting,
self-conditioning); a batch of cached posteriors (`latent_mean`, `latent_logvar`: the prior
stage) trains that part alone.
"""

from fnmatch import fnmatch

import torch
from torch import nn

from dmlp_cli.diffusion.schedules import NoiseSchedule
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.decoding import GREEDY, Decoding
from dmlp_cli.models.family import LossNoise, LossParts
from dmlp_cli.models.latent_connector import LatentConnector
from dmlp_cli.models.latent_prior import LatentPrior

RECONSTRUCTION_WEIGHTINGS = ("uniform", "alpha_bar")


class JointLatentDiffusion(LatentPrior):
    """Encoder → LatentConnector → z → (decoder reconstructs text; the LatentPrior learns p(z)); the latent
    family of models/family.py."""

    def __init__(
        self,
        *,
        encoder: nn.Module,
        decoder: nn.Module,
        denoiser: nn.Module,
        schedule: NoiseSchedule,
        latent_dim: int,
        ddpm_weight: float = 10.0,
        kl_weight: float = 0.0,
        fixed_logvar: float | None = -4.828313737302301,
        normalize_latent: bool = False,
        reconstruction_weighting: str = "uniform",
        diffusion_repeats: int = 1,
        loss_weighting: str = "uniform",
        min_snr_gamma: float = 5.0,
        sigmoid_bias: float = 0.0,
        timestep_sampling: str = "uniform",
        freeze: list[str] = (),
    ):
        super().__init__(denoiser=denoiser, schedule=schedule, latent_dim=latent_dim,
                         diffusion_repeats=diffusion_repeats, loss_weighting=loss_weighting,
                         min_snr_gamma=min_snr_gamma, sigmoid_bias=sigmoid_bias,
                         timestep_sampling=timestep_sampling)
        if reconstruction_weighting not in RECONSTRUCTION_WEIGHTINGS:
            raise DmlpError(
                f"model.reconstruction_weighting '{reconstruction_weighting}' is not one of {list(RECONSTRUCTION_WEIGHTINGS)}"
            )
        self.encoder, self.decoder = encoder, decoder
        self.connector = LatentConnector(
            hidden_size=encoder.hidden_size, latent_dim=latent_dim, fixed_logvar=fixed_logvar, normalize=normalize_latent
        )
        self.ddpm_weight, self.kl_weight = ddpm_weight, kl_weight
        self.reconstruction_weighting = reconstruction_weighting
        self.freeze(list(freeze))

    def freeze(self, patterns: list[str]) -> None:
        """Stop gradients for parameters whose names match any glob (DMLP's `condition_f`, inverted)."""
        names = [name for name, _ in self.named_parameters()]
        for pattern in patterns:
            if not any(fnmatch(name, pattern) for name in names):
                raise DmlpError(
                    f"model.freeze pattern '{pattern}' matches no parameter; names look like '{names[0]}' "
                    "(globs such as 'decoder.backbone.*' or 'encoder.*')"
                )
        for name, parameter in self.named_parameters():
            if any(fnmatch(name, pattern) for pattern in patterns):
                parameter.requires_grad_(False)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of z, [B, d] each."""
        return self.connector(self.encoder(input_ids, attention_mask))

    def reconstruction_weight(self, t: torch.Tensor) -> torch.Tensor:
        """w(t) per sample: 1, or ᾱ_t normalised to mean 1 over t (reconstruction counts most where the
        diffusion term sees a nearly clean latent)."""
        if self.reconstruction_weighting == "uniform":
            return torch.ones(t.shape[0], device=t.device)
        alpha_bar = self.schedule.alphas_cumprod.to(t.device)
        return (alpha_bar[t] / alpha_bar.mean()).float()

    def forward(self, batch: dict[str, torch.Tensor], noise: LossNoise | None = None) -> LossParts:
        """The joint loss of a batch (the prior loss of a batch of cached posteriors); `noise` = None draws
        fresh noise from the global RNG."""
        if noise is None:
            size = (batch["latent_mean"] if "latent_mean" in batch else batch["encoder_ids"]).shape[0]
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
            noise = self.draw_noise(batch_size=size, generator=generator).rows(
                torch.arange(size), device=next(self.parameters()).device
            )
        if "latent_mean" in batch:
            return super().forward(batch, noise)
        mu, logvar = self.encode(batch["encoder_ids"], batch["encoder_mask"])
        z = LatentConnector.sample(mu, logvar, noise["latent"])
        nll_sum, num_tokens = self.decoder.reconstruction_nll(
            input_ids=batch["decoder_ids"], attention_mask=batch["decoder_mask"], z=z
        )
        reconstruction = nll_sum / num_tokens.clamp_min(1)

        diffusion, t = self.diffusion_loss(z, noise)
        kl = LatentConnector.kl(mu, logvar)
        weight = self.reconstruction_weight(t).view(z.shape[0], -1).mean(-1)
        assert reconstruction.shape == diffusion.shape == weight.shape == kl.shape == (z.shape[0],)
        loss = (weight * reconstruction).mean() + self.ddpm_weight * diffusion.mean() + self.kl_weight * kl.mean()
        return LossParts(
            loss=loss, parts={"reconstruction": reconstruction, "diffusion": diffusion, "kl": kl, "weight": weight},
            nll_sum=nll_sum, num_tokens=num_tokens,
        )

    def encode_x0(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The normalised posterior mean (μ(x) − m) / s [B, d]: what reconstruction and interpolation decode."""
        return self.normalization.normalize(self.encode(batch["encoder_ids"], batch["encoder_mask"])[0])

    def decode(
        self, z: torch.Tensor, *, max_length: int, decoding: Decoding = GREEDY, generator: torch.Generator | None = None
    ) -> list[list[int]]:
        """Token ids for each (normalised) latent, BOS and EOS stripped; `generator` feeds sampled decoding."""
        return decoding.decode(self.decoder, self.normalization.denormalize(z), max_length=max_length,
                               generator=generator)
