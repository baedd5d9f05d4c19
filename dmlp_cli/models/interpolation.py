"""Paths between two latents, for decoding the sentences "between" two inputs (Bowman et al., 2016, "homotopies")."""

import torch

from dmlp_cli.errors import DmlpError

PATHS = ("linear", "slerp")


def interpolation_weights(num_points: int) -> torch.Tensor:
    """λ_0..λ_{k−1} evenly from 0 to 1, both ends included."""
    if num_points < 2:
        raise DmlpError(f"k must be >= 2 (the two endpoints), got {num_points}")
    return torch.linspace(0.0, 1.0, num_points, dtype=torch.float64)


def interpolate(a: torch.Tensor, b: torch.Tensor, *, weights: torch.Tensor, path: str) -> torch.Tensor:
    """Points [k, d] from a (λ = 0) to b (λ = 1), each endpoint exactly.

    linear: (1 − λ) a + λ b.
    slerp:  sin((1 − λ) θ) / sin θ · a + sin(λ θ) / sin θ · b, θ the angle between a and b
            (Shoemake, 1985; White, 2016, for generative latents): the norm stays near a's and b's,
            where a Gaussian's samples live, instead of shrinking in the middle. Parallel a, b fall back to linear.
    """
    if path not in PATHS:
        raise DmlpError(f"path '{path}' is not one of {', '.join(PATHS)}; pass path=linear or path=slerp")
    a64, b64, lam = a.double(), b.double(), weights.to(a.device).unsqueeze(1)
    linear = (1 - lam) * a64 + lam * b64
    if path == "linear":
        return linear.to(a.dtype)
    cosine = (a64 @ b64) / (a64.norm() * b64.norm()).clamp_min(torch.finfo(torch.float64).tiny)
    theta = cosine.clamp(-1.0, 1.0).arccos()
    if theta.sin() < 1e-6:
        return linear.to(a.dtype)
    points = (torch.sin((1 - lam) * theta) * a64 + torch.sin(lam * theta) * b64) / theta.sin()
    points[0], points[-1] = a64, b64
    return points.to(a.dtype)
