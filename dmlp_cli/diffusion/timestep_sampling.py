"""Which timesteps the denoising loss is evaluated at, and the weight that keeps its expectation.

* uniform: t ~ U{0, …, T−1}, weight 1.
* loss_aware (Nichol & Dhariwal, 2021, "Improved DDPM", §3.3): t ~ p_t ∝ sqrt(E[L_t²]), the root mean square of
  the recent losses at t, mixed with a small uniform share, and each loss weighted by 1 / (T p_t), so
  E_p[L_t / (T p_t)] = mean_t L_t is the uniform objective with less variance. Until every t has been seen,
  sampling stays uniform. E[L_t²] is an exponential average (rate 0.1, about the last 10 losses at t, as the
  paper's window of 10), kept as buffers: it travels in checkpoints and a resumed run goes on with it.

Under DDP each process observes its own losses, so processes can draw from slightly different p_t (each
stays unbiased); with `loss_aware` a run's weights then depend on the number of processes.
"""

import torch
from torch import nn

from dmlp_cli.errors import DmlpError

TIMESTEP_SAMPLINGS = ("uniform", "loss_aware")


class TimestepSampler(nn.Module):
    def __init__(self, *, kind: str, num_timesteps: int, rate: float = 0.1, uniform_share: float = 0.001):
        super().__init__()
        if kind not in TIMESTEP_SAMPLINGS:
            raise DmlpError(f"model.timestep_sampling '{kind}' is not one of {list(TIMESTEP_SAMPLINGS)}")
        self.kind, self.num_timesteps, self.rate, self.uniform_share = kind, num_timesteps, rate, uniform_share
        if kind == "loss_aware":
            self.register_buffer("second_moment", torch.zeros(num_timesteps, dtype=torch.float64))
            self.register_buffer("seen", torch.zeros(num_timesteps, dtype=torch.bool))

    def probabilities(self) -> torch.Tensor:
        """p_t [T] (float64, on the CPU): uniform, or the loss-aware mixture once every t has a loss."""
        uniform = torch.full((self.num_timesteps,), 1.0 / self.num_timesteps, dtype=torch.float64)
        if self.kind == "uniform" or not bool(self.seen.all()):
            return uniform
        root = self.second_moment.sqrt().cpu()
        return (1 - self.uniform_share) * root / root.sum() + self.uniform_share * uniform

    def draw(self, n: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n timesteps and their weights 1 / (T p_t) [n]."""
        p = self.probabilities()
        if self.kind == "uniform":
            t = torch.randint(0, self.num_timesteps, (n,), generator=generator)
        else:
            t = torch.multinomial(p, n, replacement=True, generator=generator)
        return t, (1.0 / (self.num_timesteps * p[t])).float()

    @torch.no_grad()
    def observe(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Fold a training batch's per-example losses at timesteps t into E[L_t²] (loss_aware only)."""
        if self.kind == "uniform":
            return
        t = t.to(self.second_moment.device)
        sums = torch.zeros_like(self.second_moment).index_add_(0, t, losses.detach().double().pow(2))
        counts = torch.bincount(t, minlength=self.num_timesteps)
        batch = counts > 0
        mean = sums[batch] / counts[batch]
        previous = self.second_moment[batch]
        self.second_moment[batch] = torch.where(self.seen[batch], (1 - self.rate) * previous + self.rate * mean, mean)
        self.seen |= batch
