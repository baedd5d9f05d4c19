import pytest
import torch

from dmlp_cli.diffusion.loss_weighting import loss_weight
from dmlp_cli.diffusion.schedules import CosineSchedule
from dmlp_cli.errors import DmlpError

SNR = torch.tensor([0.5, 5.0, 20.0])


@pytest.mark.parametrize("prediction_type, expected", [
    ("epsilon", [1.0, 1.0, 0.25]),            # min(SNR, 5) / SNR
    ("v_prediction", [1 / 3, 5 / 6, 5 / 21]),  # min(SNR, 5) / (SNR + 1)
    ("sample", [0.5, 5.0, 5.0]),               # min(SNR, 5)
])
def test_min_snr_weights_by_hand(prediction_type, expected):
    weight = loss_weight(SNR, kind="min_snr", prediction_type=prediction_type, gamma=5.0)
    torch.testing.assert_close(weight, torch.tensor(expected))


def test_sigmoid_weight_on_epsilon_is_one_over_one_plus_snr_at_bias_0():
    weight = loss_weight(SNR, kind="sigmoid", prediction_type="epsilon", bias=0.0)
    torch.testing.assert_close(weight, 1 / (1 + SNR))  # sigmoid(−log SNR) = 1 / (1 + SNR)


def test_uniform_keeps_the_targets_own_loss():
    for prediction_type in ("epsilon", "v_prediction", "sample"):
        assert torch.equal(loss_weight(SNR, kind="uniform", prediction_type=prediction_type), torch.ones(3))


@pytest.mark.parametrize("kind", ["min_snr", "sigmoid"])
def test_a_weighting_is_the_same_loss_whatever_the_target(kind):
    """The same x̂0 error costs the same under ε-, v- and x0-prediction once weighted."""
    torch.manual_seed(0)
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    t = torch.tensor([10, 300, 900])
    x0_hat = x0 + 0.1 * torch.randn(3, 4)
    losses = []
    for prediction_type in ("epsilon", "v_prediction", "sample"):
        schedule = CosineSchedule(num_timesteps=1000, prediction_type=prediction_type)
        x_t = schedule.add_noise(x0, noise, t)
        alpha_bar = schedule.alphas_cumprod[t].float().unsqueeze(-1)
        epsilon_hat = (x_t - alpha_bar.sqrt() * x0_hat) / (1 - alpha_bar).sqrt()
        output = {"epsilon": epsilon_hat, "sample": x0_hat,
                  "v_prediction": alpha_bar.sqrt() * epsilon_hat - (1 - alpha_bar).sqrt() * x0_hat}[prediction_type]
        mse = (output - schedule.target(x0, noise, t)).pow(2).mean(-1)
        losses.append(mse * loss_weight(schedule.snr(t), kind=kind, prediction_type=prediction_type))
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(losses[0], losses[2], rtol=1e-4, atol=1e-6)


def test_unknown_weighting_is_a_user_error():
    with pytest.raises(DmlpError, match="not one of"):
        loss_weight(SNR, kind="p2", prediction_type="epsilon")
