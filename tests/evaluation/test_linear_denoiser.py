import math

import pytest
import torch

from dmlp_cli.diffusion.schedules import LinearSchedule
from dmlp_cli.evaluation.linear_denoiser import denoising_errors, wiener_x0


def test_wiener_denoiser_by_hand_in_one_dimension():
    # m = 1, C = 4, ᾱ = 0.5, x_t = 2: gain = sqrt(0.5)·4 / (0.5·4 + 0.5), x̂0 = 1 + gain · (2 − sqrt(0.5))
    x0_hat = wiener_x0(torch.tensor([[2.0]]), alpha_bar=0.5, mean=torch.tensor([1.0]), cov=torch.tensor([[4.0]]))
    gain = math.sqrt(0.5) * 4 / 2.5
    assert x0_hat.item() == pytest.approx(1 + gain * (2 - math.sqrt(0.5)), rel=1e-6)


def test_a_denoiser_that_is_the_wiener_filter_matches_it_at_every_timestep():
    schedule = LinearSchedule(num_timesteps=100, prediction_type="sample")
    x0 = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0)) @ torch.tensor(
        [[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 2.0]]) + 1.0
    mean, cov = x0.mean(0), torch.cov(x0.T)

    class Wiener:
        def __init__(self):
            self.schedule = schedule

        def denoiser(self, x_t, t):
            return wiener_x0(x_t, alpha_bar=float(schedule.alphas_cumprod[t[0]]), mean=mean, cov=cov)

    errors = denoising_errors(Wiener(), x0=x0, timesteps=(10, 50), generator=torch.Generator().manual_seed(1))
    for row in errors.values():
        assert row["learned"] == pytest.approx(row["wiener"], rel=1e-5)
    assert errors[10]["wiener"] < errors[50]["wiener"]  # more noise, more error
