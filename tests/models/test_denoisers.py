import pytest
import torch

from dmlp_cli.models.denoisers import LatentTransformer, MLPSkipNet, timestep_embedding


def test_timestep_embedding_is_cos_sin_of_scaled_t():
    emb = timestep_embedding(torch.tensor([0, 3]), dim=4)
    # ω = [1, 10000^(-1/2)] → [cos(tω), sin(tω)]
    assert emb[0].tolist() == pytest.approx([1, 1, 0, 0])
    assert emb[1, 0].item() == pytest.approx(torch.cos(torch.tensor(3.0)).item())
    assert emb[1, 3].item() == pytest.approx(torch.sin(torch.tensor(0.03)).item(), rel=1e-5)


@pytest.mark.parametrize("denoiser", [
    MLPSkipNet(latent_dim=16, hidden_dim=32, num_layers=4),
    LatentTransformer(latent_dim=16, num_tokens=4, hidden_dim=32, num_layers=2, num_heads=4),
])
def test_denoisers_map_latents_to_latents_and_depend_on_time(denoiser):
    x = torch.randn(5, 16)
    a = denoiser(x, torch.full((5,), 10))
    b = denoiser(x, torch.full((5,), 900))
    assert a.shape == x.shape
    assert (a - b).abs().max() > 1e-4


def test_mlp_skip_net_feeds_the_input_to_every_layer_after_the_first():
    net = MLPSkipNet(latent_dim=16, hidden_dim=32, num_layers=5)
    assert len(net.hidden) == 4
    assert net.hidden[0].linear.in_features == 16
    assert all(layer.linear.in_features == 32 + 16 for layer in net.hidden[1:])
    assert net.out.in_features == 32 + 16


@pytest.mark.parametrize("denoiser", [
    MLPSkipNet(latent_dim=16, hidden_dim=32, num_layers=4, self_conditioning=True),
    LatentTransformer(latent_dim=16, num_tokens=4, hidden_dim=32, num_layers=2, num_heads=4, self_conditioning=True),
])
def test_self_conditioning_denoisers_read_their_previous_estimate(denoiser):
    x, t = torch.randn(5, 16), torch.full((5,), 10)
    none = denoiser(x, t)
    assert torch.equal(none, denoiser(x, t, self_cond=torch.zeros_like(x)))  # no estimate = zeros
    assert (denoiser(x, t, self_cond=torch.randn(5, 16)) - none).abs().max() > 1e-4


def test_self_conditioning_mlp_skip_net_skips_the_estimate_too():
    net = MLPSkipNet(latent_dim=16, hidden_dim=32, num_layers=3, self_conditioning=True)
    assert net.hidden[0].linear.in_features == 32  # [x_t, x̂_0]
    assert net.hidden[1].linear.in_features == 32 + 32 and net.out.in_features == 32 + 32
