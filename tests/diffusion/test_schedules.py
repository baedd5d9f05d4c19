import math

import pytest
import torch

from dmlp_cli.diffusion.schedules import ConstantSchedule, CosineSchedule, LinearSchedule, SqrtSchedule
from dmlp_cli.errors import DmlpError


def test_linear_betas_run_from_start_to_end():
    schedule = LinearSchedule(num_timesteps=5, beta_start=0.1, beta_end=0.5)
    assert schedule.betas.tolist() == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert schedule.alphas_cumprod[1].item() == pytest.approx(0.9 * 0.8)


def test_constant_betas_are_dmlps_0_008():
    schedule = ConstantSchedule(num_timesteps=2000)
    assert torch.all(schedule.betas == 0.008)
    assert schedule.alphas_cumprod[-1].item() == pytest.approx(0.992**2000)


def test_sqrt_schedule_telescopes_to_diffusion_lm_alpha_bar():
    # ᾱ_cumprod[i] = Π_{s<=i} ᾱ((s+1)/T)/ᾱ(s/T) = ᾱ((i+1)/T) / ᾱ(0) while no β hits the 0.999 cap
    T = 100
    schedule = SqrtSchedule(num_timesteps=T)
    alpha_bar = lambda t: 1 - math.sqrt(t + 1e-4)  # noqa: E731
    for i in (0, 10, 50, 90):
        assert schedule.alphas_cumprod[i].item() == pytest.approx(alpha_bar((i + 1) / T) / alpha_bar(0), rel=1e-9)


def test_cosine_schedule_matches_nichol_dhariwal():
    T, s = 50, 0.008
    schedule = CosineSchedule(num_timesteps=T, offset=s)
    f = lambda t: math.cos((t + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    assert schedule.alphas_cumprod[24].item() == pytest.approx(f(25 / T) / f(0), rel=1e-9)


def test_add_noise_and_targets_follow_the_forward_process():
    schedule = LinearSchedule(num_timesteps=10, beta_start=0.1, beta_end=0.1, prediction_type="v_prediction")
    x0, noise, t = torch.tensor([[2.0]]), torch.tensor([[0.5]]), torch.tensor([1])
    alpha_bar = 0.9 * 0.9
    expected = math.sqrt(alpha_bar) * 2.0 + math.sqrt(1 - alpha_bar) * 0.5
    assert schedule.add_noise(x0, noise, t).item() == pytest.approx(expected, rel=1e-6)
    v = math.sqrt(alpha_bar) * 0.5 - math.sqrt(1 - alpha_bar) * 2.0
    assert schedule.target(x0, noise, t).item() == pytest.approx(v, rel=1e-6)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_predict_x0_inverts_every_target(prediction_type):
    schedule = LinearSchedule(num_timesteps=100, prediction_type=prediction_type)
    x0, noise = torch.randn(4, 3), torch.randn(4, 3)
    t = torch.tensor([0, 10, 50, 99])
    x_t = schedule.add_noise(x0, noise, t)
    recovered = schedule.predict_x0(x_t, t, schedule.target(x0, noise, t))
    torch.testing.assert_close(recovered, x0, rtol=1e-3, atol=1e-3)


def test_bad_settings_are_user_errors():
    with pytest.raises(DmlpError, match="prediction_type"):
        LinearSchedule(prediction_type="score")
    with pytest.raises(DmlpError, match="outside"):
        LinearSchedule(num_timesteps=10, beta_start=0.5, beta_end=1.5)
    with pytest.raises(DmlpError, match="num_timesteps"):
        ConstantSchedule(num_timesteps=0)


@pytest.mark.parametrize("t", [1, 5, 10, 50, 200])
def test_noise_variance_under_bf16_autocast_matches_float32(t):
    """A latent that leaves a bf16 autocast region is still noised in float32: x_t − sqrt(ᾱ_t)·z has variance
    1 − ᾱ_t at every t (in bf16, 1 − ᾱ_t rounds to 0 for t <= 10 and is 11% too high at t = 50)."""
    schedule = LinearSchedule(num_timesteps=2000)
    generator = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = layer(torch.randn(20000, 16, generator=generator))
    assert z.dtype == torch.bfloat16
    noise = torch.randn(z.shape, generator=generator)
    timesteps = torch.full((z.shape[0],), t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x_t = schedule.add_noise(z, noise, timesteps)
    assert x_t.dtype == torch.float32
    alpha_bar = schedule.alphas_cumprod[t]
    residual = x_t.double() - alpha_bar.sqrt() * z.double()
    torch.testing.assert_close(residual.var(), 1 - alpha_bar, rtol=0.03, atol=0)
    reference = schedule.add_noise(z.float(), noise, timesteps)
    torch.testing.assert_close(x_t, reference)


def test_logsnr_shift_moves_log_snr_by_the_shift_at_every_timestep():
    base = CosineSchedule(num_timesteps=100)
    shifted = CosineSchedule(num_timesteps=100, logsnr_shift=-1.5)
    t = torch.arange(100)
    torch.testing.assert_close(shifted.snr(t).double().log(), base.snr(t).double().log() - 1.5, rtol=0, atol=1e-4)
    assert torch.equal(CosineSchedule(num_timesteps=100, logsnr_shift=0.0).betas, base.betas)


def test_snr_is_alpha_bar_over_one_minus_alpha_bar():
    schedule = LinearSchedule(num_timesteps=10)
    alpha_bar = schedule.alphas_cumprod[3]
    assert schedule.snr(torch.tensor([3])).item() == pytest.approx(float(alpha_bar / (1 - alpha_bar)), rel=1e-6)
