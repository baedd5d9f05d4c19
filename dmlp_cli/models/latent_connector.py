"""Pooled encoder features → the posterior q(z | x) = N(μ, diag(σ²))."""

import torch
from torch import nn


class LatentConnector(nn.Module):
    """Linear map to μ and log σ²; log σ² is either learned (a VAE with a KL term) or fixed.

    DMLP fixes log σ² = log 0.008: the latent stays a noisy point estimate, and the
    DDPM on z, not a KL term, shapes the latent space.

    With `normalize`, μ is layer-normalised (no affine): every latent has mean 0 and
    unit variance over its dimensions. Then neither the reconstruction (by inflating μ
    past the fixed noise) nor the diffusion loss (by shrinking μ towards a point) can
    move the latent's scale, σ becomes a real smoothness knob, and the DDPM sees data
    at the unit scale its β schedule assumes.
    """

    def __init__(self, *, hidden_size: int, latent_dim: int, fixed_logvar: float | None = None, normalize: bool = False):
        super().__init__()
        self.fixed_logvar = fixed_logvar
        self.proj = nn.Linear(hidden_size, latent_dim if fixed_logvar is not None else 2 * latent_dim)
        self.norm = nn.LayerNorm(latent_dim, elementwise_affine=False) if normalize else nn.Identity()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fixed_logvar is not None:
            mu = self.norm(self.proj(features))
            return mu, torch.full_like(mu, self.fixed_logvar)
        mu, logvar = self.proj(features).chunk(2, dim=-1)
        return self.norm(mu), logvar

    @staticmethod
    def sample(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = μ + σ ⊙ ε (reparameterisation), with ε ~ N(0, I) drawn by the caller (LossNoise)."""
        return mu + (0.5 * logvar).exp() * eps.to(mu.dtype)

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(μ, σ²) ‖ N(0, I)) per sample = ½ Σ (μ² + σ² − log σ² − 1)."""
        return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)
