"""The affine map between the autoencoder's latents z and the space the latent diffusion runs in.

    z̃ = (z − m) / s,        z = m + s · z̃

m and s are fitted once to the training latents (the prior stage does, on its cached posteriors)
and stored as buffers, so they travel in the checkpoint and `dmlp sample` decodes m + s · x_0
without knowing they exist. Fitted to the aggregate posterior q(z) = mean_x N(μ(x), σ²(x)):

    E[z] = mean(μ),    Var[z] = Var(μ) + mean(σ²)          (per dimension)

* per_dimension: every coordinate to zero mean and unit variance (diffae's latent DDPM);
* global: one mean and one standard deviation for all coordinates (STAR-LDM), which keeps the
  latent's shape (a dimension with little variance stays small);
* none: the identity (m = 0, s = 1), what a model is until a prior stage fits it.

The noise schedules assume data of about unit variance; DMLP's latents are not (their scale is
whatever the joint loss left), so without this the same schedule is a different one per model.
"""

import torch
from torch import nn

from dmlp_cli.errors import DmlpError

NORMALIZATIONS = ("none", "per_dimension", "global")


class LatentNormalization(nn.Module):
    def __init__(self, latent_dim: int):
        super().__init__()
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.shift) / self.scale

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.shift

    @torch.no_grad()
    def fit(self, *, means: torch.Tensor, logvars: torch.Tensor, kind: str) -> None:
        """Set m and s from the posterior means and log-variances [N, d] of the training set."""
        if kind not in NORMALIZATIONS:
            raise DmlpError(f"latent normalization '{kind}' is not one of {list(NORMALIZATIONS)}")
        means, variances = means.double(), logvars.double().exp()
        mean = means.mean(0)
        variance = means.var(0, unbiased=False) + variances.mean(0)
        if kind == "none":
            mean, variance = torch.zeros_like(mean), torch.ones_like(variance)
        elif kind == "global":
            total = means.mean()
            variance = ((means - total).pow(2).mean() + variances.mean()).expand_as(mean)
            mean = total.expand_as(mean)
        self.shift.copy_(mean.float())
        self.scale.copy_(variance.clamp_min(1e-12).sqrt().float())
