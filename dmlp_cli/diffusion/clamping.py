"""Clamping: a function applied to the predicted x̂_0 at every sampling step, before the step is taken.

Diffusion-LM maps x̂_0 to its nearest word embedding at every step (Li et al., 2022,
§4.2, "the clamping trick"), which commits the sampler to real words early. A latent
z has no vocabulary to snap to; clipping the norm of x̂_0 keeps it in the region the
decoder was trained on. A clamp is any `Clamp`: x̂_0 in, x̂_0 of the same shape out.
Samplers take one as `clamp=` (`sampler/clamp=<option>` in YAML); a clamp that needs
the model (nearest embedding needs the embedding table) gets it at instantiate time.
"""

import torch

from dmlp_cli.errors import DmlpError


class Clamp:
    """x̂_0 → x̂_0, applied by the sampler at every step."""

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class NormClip(Clamp):
    """x̂_0 ← x̂_0 · min(1, max_norm / ‖x̂_0‖), each vector along the last dimension on its own."""

    def __init__(self, *, max_norm: float):
        if max_norm <= 0:
            raise DmlpError(f"sampler.clamp.max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        norm = x0.norm(dim=-1, keepdim=True)
        return x0 * (self.max_norm / norm.clamp_min(torch.finfo(x0.dtype).tiny)).clamp(max=1.0)
