import math

import pytest
import torch

from dmlp_cli.diffusion.noise import TruncatedNoise
from dmlp_cli.errors import DmlpError


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return torch.special.ndtr(x.double())


def test_truncated_noise_never_exceeds_the_bound_and_is_a_truncated_normal():
    p = 0.9
    noise = TruncatedNoise(top_p=p).sample((200_000,), generator=torch.Generator().manual_seed(0))
    assert noise.abs().max().item() <= p
    # Kolmogorov-Smirnov distance to the truncated normal's CDF, F(x) = (Φ(x) − Φ(−p)) / (Φ(p) − Φ(−p))
    xs = noise.double().sort().values
    low, high = _normal_cdf(torch.tensor(-p)), _normal_cdf(torch.tensor(p))
    model_cdf = (_normal_cdf(xs) - low) / (high - low)
    empirical = torch.arange(1, xs.numel() + 1, dtype=torch.float64) / xs.numel()
    assert (model_cdf - empirical).abs().max().item() < 1.63 / math.sqrt(xs.numel())  # KS critical value at 1%
    # the variance of N(0,1) truncated to [−p, p] is 1 − 2pφ(p) / (2Φ(p) − 1)
    phi = math.exp(-p * p / 2) / math.sqrt(2 * math.pi)
    expected_var = 1 - 2 * p * phi / (2 * high.item() - 1)
    assert noise.var().item() == pytest.approx(expected_var, rel=0.02)


def test_untruncated_noise_is_standard_normal_and_seeded():
    a = TruncatedNoise().sample((100_000,), generator=torch.Generator().manual_seed(1))
    b = TruncatedNoise().sample((100_000,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.std().item() == pytest.approx(1.0, abs=0.01)
    assert a.abs().max().item() > 3.0


def test_non_positive_top_p_is_a_user_error():
    with pytest.raises(DmlpError, match="top_p"):
        TruncatedNoise(top_p=0.0)


def test_truncated_noise_is_diffusion_lms_resample_until_inside():
    """Same distribution as the literal procedure (redraw every entry with |n| > top_p): two-sample KS at 1%."""
    p, size = 0.7, 50_000
    generator = torch.Generator().manual_seed(2)
    literal = torch.randn(size, generator=generator, dtype=torch.float64)
    while (outside := literal.abs() > p).any():
        literal[outside] = torch.randn(int(outside.sum()), generator=generator, dtype=torch.float64)
    ours = TruncatedNoise(top_p=p).sample((size,), generator=generator, dtype=torch.float64)
    grid = torch.cat([literal, ours]).sort().values
    cdf = lambda x: torch.searchsorted(x.sort().values, grid, right=True) / size  # noqa: E731
    assert (cdf(literal) - cdf(ours)).abs().max().item() < 1.63 * math.sqrt(2 / size)
