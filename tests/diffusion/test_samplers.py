import pytest
import torch

from dmlp_cli.diffusion.noise import TruncatedNoise
from dmlp_cli.diffusion.samplers import AncestralSampler
from dmlp_cli.diffusion.schedules import LinearSchedule
from dmlp_cli.errors import DmlpError


class FixedEpsilon(torch.nn.Module):
    """ε̂(x, t) = 0.1·x + 0.01·t, a known function so every step can be computed by hand."""

    def forward(self, x, t):
        return 0.1 * x + 0.01 * t.unsqueeze(-1).to(x.dtype)


def _ddpm_by_hand(schedule, *, shape, seed, top_p=None):
    """Ho et al. (2020) Alg. 2 with σ_t² = β̃_t, written out, drawing noise in the sampler's order."""
    generator = torch.Generator().manual_seed(seed)
    noise = TruncatedNoise(top_p=top_p)
    betas = schedule.betas
    alpha_bar = schedule.alphas_cumprod
    x = TruncatedNoise().sample(shape, generator=generator).double()
    for t in reversed(range(schedule.num_timesteps)):
        eps = 0.1 * x + 0.01 * t
        prev = alpha_bar[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        x0 = (x - (1 - alpha_bar[t]).sqrt() * eps) / alpha_bar[t].sqrt()
        mean = prev.sqrt() * betas[t] / (1 - alpha_bar[t]) * x0 + (1 - betas[t]).sqrt() * (1 - prev) / (1 - alpha_bar[t]) * x
        variance = (1 - prev) / (1 - alpha_bar[t]) * betas[t]
        x = mean + variance.sqrt() * noise.sample(shape, generator=generator).double()
    return x


@pytest.mark.parametrize("top_p", [None, 0.5])
def test_ancestral_sampler_is_ddpm_algorithm_2(top_p):
    schedule = LinearSchedule(num_timesteps=8, beta_start=0.05, beta_end=0.3)
    sampler = AncestralSampler(top_p=top_p)
    out = sampler.sample(
        denoiser=FixedEpsilon(), schedule=schedule, shape=(3, 2), generator=torch.Generator().manual_seed(0)
    )
    expected = _ddpm_by_hand(schedule, shape=(3, 2), seed=0, top_p=top_p)
    torch.testing.assert_close(out.double(), expected, rtol=1e-4, atol=1e-5)


def test_respaced_sampling_runs_the_requested_number_of_steps():
    schedule = LinearSchedule(num_timesteps=100)
    calls = []
    sampler = AncestralSampler(steps=10)
    sampler.sample(
        denoiser=FixedEpsilon(), schedule=schedule, shape=(2, 4), generator=torch.Generator().manual_seed(0),
        on_step=lambda: calls.append(1),
    )
    assert len(calls) == 10 == sampler.num_steps(schedule)


def test_sampling_is_reproducible_with_a_seed():
    schedule = LinearSchedule(num_timesteps=20)
    run = lambda: AncestralSampler().sample(  # noqa: E731
        denoiser=FixedEpsilon(), schedule=schedule, shape=(2, 3), generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(run(), run())


def test_more_steps_than_training_timesteps_is_a_user_error():
    with pytest.raises(DmlpError, match="exceeds"):
        AncestralSampler(steps=50).scheduler_for(LinearSchedule(num_timesteps=20))
