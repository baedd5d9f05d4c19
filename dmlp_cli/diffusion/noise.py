"""Gaussian noise for sampler steps, optionally truncated (Diffusion-LM's `top_p`)."""

import torch

from dmlp_cli.errors import DmlpError


class TruncatedNoise:
    """Standard normal noise with every entry restricted to [−top_p, top_p]; `top_p=None` means untruncated.

    Diffusion-LM resamples any entry with |n| > top_p until it falls inside. That
    is exactly sampling the truncated normal, which we do in one vectorised shot
    by inverse CDF: n = Φ⁻¹(U(Φ(−p), Φ(p))); no rejection loop, whatever p is.
    """

    def __init__(self, *, top_p: float | None = None):
        if top_p is not None and top_p <= 0:
            raise DmlpError(f"top_p must be > 0 (or null for untruncated noise), got {top_p}")
        self.top_p = top_p

    def sample(
        self, shape: tuple[int, ...], *, generator: torch.Generator, device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        if self.top_p is None:
            return torch.randn(shape, generator=generator, dtype=torch.float64).to(device=device, dtype=dtype)
        bound = torch.tensor(self.top_p, dtype=torch.float64)
        low, high = torch.special.ndtr(-bound), torch.special.ndtr(bound)
        uniform = torch.rand(shape, generator=generator, dtype=torch.float64)
        noise = torch.special.ndtri(low + (high - low) * uniform).clamp(-self.top_p, self.top_p)
        return noise.to(device=device, dtype=dtype)
