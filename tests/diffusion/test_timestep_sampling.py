import pytest
import torch

from dmlp_cli.diffusion.timestep_sampling import TimestepSampler
from dmlp_cli.errors import DmlpError


def test_uniform_draws_every_timestep_with_weight_one():
    sampler = TimestepSampler(kind="uniform", num_timesteps=4)
    t, weight = sampler.draw(1000, generator=torch.Generator().manual_seed(0))
    assert set(t.tolist()) == {0, 1, 2, 3} and torch.equal(weight, torch.ones(1000))
    assert dict(sampler.state_dict()) == {}


def test_loss_aware_stays_uniform_until_every_timestep_has_a_loss():
    sampler = TimestepSampler(kind="loss_aware", num_timesteps=4)
    sampler.observe(torch.tensor([0, 1, 2]), torch.ones(3))
    torch.testing.assert_close(sampler.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))


def test_loss_aware_probabilities_follow_the_rms_loss_and_weights_keep_the_mean():
    sampler = TimestepSampler(kind="loss_aware", num_timesteps=4)
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0])  # L_t = t + 1, so sqrt(E[L_t²]) = t + 1
    sampler.observe(torch.arange(4), losses)
    p = sampler.probabilities()
    expected = 0.999 * (torch.arange(4) + 1).double() / 10 + 0.001 / 4
    torch.testing.assert_close(p, expected)
    t, weight = sampler.draw(4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(weight, (1 / (4 * expected[t])).float())
    # E_p[w_t L_t] = Σ_t p_t · L_t / (T p_t) = mean L_t: the uniform objective
    assert (p * losses.double() / (4 * p)).sum().item() == pytest.approx(losses.mean().item())
    assert torch.bincount(t, minlength=4)[3] > torch.bincount(t, minlength=4)[0]


def test_observed_losses_are_an_exponential_average_of_their_squares_per_timestep():
    sampler = TimestepSampler(kind="loss_aware", num_timesteps=3)
    sampler.observe(torch.tensor([1, 1]), torch.tensor([1.0, 3.0]))  # first sight: the batch's mean of squares
    assert sampler.second_moment[1].item() == pytest.approx(5.0)
    sampler.observe(torch.tensor([1]), torch.tensor([0.0]))
    assert sampler.second_moment[1].item() == pytest.approx(0.9 * 5.0)
    assert sampler.seen.tolist() == [False, True, False]
    assert set(sampler.state_dict()) == {"second_moment", "seen"}  # it travels in checkpoints


def test_unknown_timestep_sampling_is_a_user_error():
    with pytest.raises(DmlpError, match="loss_aware"):
        TimestepSampler(kind="adaptive", num_timesteps=4)
