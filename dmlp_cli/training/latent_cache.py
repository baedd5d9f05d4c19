"""The prior stage's training set: every training sentence's posterior q(z | x) = N(μ, σ²), encoded once.

With the autoencoder frozen, μ and σ of a sentence never change, so they are computed in one pass
and kept; a step then draws fresh posterior samples z = μ + σε from them (the model does, from its
loss noise) and costs one denoiser forward and backward: no encoder, no decoder, no tokenisation.
"""

from collections.abc import Iterable

import torch
from torch.utils.data import Dataset


class CachedLatents(Dataset):
    """Rows {"latent_mean": μ [d], "latent_logvar": log σ² [d]}, batched by `collate` without Python loops."""

    def __init__(self, *, means: torch.Tensor, logvars: torch.Tensor):
        if means.shape != logvars.shape or means.dim() != 2:
            raise ValueError(f"posterior means {tuple(means.shape)} and log-variances {tuple(logvars.shape)} "
                             "must both be [N, d]")
        self.means, self.logvars = means, logvars

    def __len__(self) -> int:
        return self.means.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"latent_mean": self.means[index], "latent_logvar": self.logvars[index]}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole micro-batch in one indexing (DataLoader calls this when it exists)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return {"latent_mean": self.means[index], "latent_logvar": self.logvars[index]}

    @staticmethod
    def collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return batch


@torch.no_grad()
def encode_posteriors(model, batches: Iterable[dict], *, device: torch.device | str = "cpu") -> CachedLatents:
    """μ and log σ² [N, d] (float32, on the CPU) of every row of the collated batches under the model's (frozen)
    encoder, in order: the prior stage's training set, and `dmlp diagnose`'s held-out latents."""
    was_training = model.training
    model.eval()
    means, logvars = [], []
    for batch in batches:
        mu, logvar = model.encode(batch["encoder_ids"].to(device), batch["encoder_mask"].to(device))
        means.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    model.train(was_training)
    return CachedLatents(means=torch.cat(means), logvars=torch.cat(logvars))
