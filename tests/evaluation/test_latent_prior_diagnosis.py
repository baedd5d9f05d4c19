import pytest
import torch

from dmlp_cli.data.toy_grammar import ToyGrammar
from dmlp_cli.diffusion.schedules import CosineSchedule, LinearSchedule
from dmlp_cli.evaluation.latent_prior_diagnosis import (
    SIGNAL_LEVELS,
    denoising_rows,
    gaussian_fit_samples,
    rates,
    timesteps_at_signal_levels,
)


@pytest.mark.parametrize("schedule", [LinearSchedule(num_timesteps=1000), CosineSchedule(num_timesteps=2000)])
def test_the_denoising_timesteps_sit_at_the_same_noise_levels_whatever_the_schedule(schedule):
    steps = timesteps_at_signal_levels(schedule.alphas_cumprod)
    assert [round(float(schedule.alphas_cumprod[t]), 2) for t in steps] == list(SIGNAL_LEVELS)


def test_a_short_schedule_gives_each_timestep_once_in_order():
    steps = timesteps_at_signal_levels(CosineSchedule(num_timesteps=4).alphas_cumprod)
    assert steps == sorted(set(steps)) and all(0 <= t < 4 for t in steps)


def test_the_gaussian_fit_has_the_latents_mean_and_covariance():
    generator = torch.Generator().manual_seed(0)
    mixing = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.5, 0.0], [0.0, -0.3, 2.0]])
    z = torch.randn(20000, 3, generator=generator) @ mixing.T + torch.tensor([1.0, -2.0, 0.5])
    drawn = gaussian_fit_samples(z, num_samples=20000, generator=generator)
    assert drawn.shape == (20000, 3)
    assert torch.allclose(drawn.mean(0), z.mean(0), atol=0.05)
    assert torch.allclose(torch.cov(drawn.T), torch.cov(z.T), atol=0.1)


def test_rates_are_the_oracles_grammar_and_syntax_valid_shares():
    valid = [row["text"] for row in ToyGrammar().generate(num_sentences=3, seed=0)]
    assert rates([*valid, "pasta the was"]) == {"grammar_valid_rate": 0.75, "syntax_valid_rate": 0.75}


def test_denoising_rows_put_the_priors_error_beside_the_wiener_filters_at_each_noise_level():
    schedule = CosineSchedule(num_timesteps=100, prediction_type="sample")
    x0 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([3.0, 0.5]) + 1.0
    variances = x0.var(0)

    class MeanPrior:  # predicts the latents' mean whatever it is given: its error is tr(C) at every step
        def __init__(self):
            self.schedule = schedule

        def denoiser(self, x_t, t):
            return x0.mean(0).expand_as(x_t)

    rows = denoising_rows(MeanPrior(), held_out_samples=x0, generator=torch.Generator().manual_seed(1))
    assert list(rows) == [f"t={t}" for t in timesteps_at_signal_levels(schedule.alphas_cumprod)]
    for row in rows.values():
        assert row["learned"] == pytest.approx(float(variances.sum()), rel=1e-3)
        # for N(m, C) with C diagonal the Wiener error is the sum over dimensions of c (1 − ᾱ) / (ᾱ c + 1 − ᾱ)
        alpha_bar = row["alpha_bar"]
        expected = (variances * (1 - alpha_bar) / (alpha_bar * variances + 1 - alpha_bar)).sum()
        assert row["wiener"] == pytest.approx(float(expected), rel=0.05)
