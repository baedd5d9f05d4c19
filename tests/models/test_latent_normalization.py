import math

import pytest
import torch

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.latent_normalization import LatentNormalization

MEANS = torch.tensor([[0.0, 2.0], [2.0, 4.0]])
LOGVARS = torch.zeros(2, 2)  # σ² = 1


def test_per_dimension_fits_the_aggregate_posterior_by_hand():
    norm = LatentNormalization(2)
    norm.fit(means=MEANS, logvars=LOGVARS, kind="per_dimension")
    # E[z] = mean μ = [1, 3]; Var[z] = Var(μ) + mean σ² = [1, 1] + 1
    torch.testing.assert_close(norm.shift, torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(norm.scale, torch.full((2,), math.sqrt(2.0)))


def test_global_uses_one_mean_and_one_scale_for_all_coordinates():
    norm = LatentNormalization(2)
    norm.fit(means=MEANS, logvars=LOGVARS, kind="global")
    # mean of all μ = 2; mean squared deviation (4 + 0 + 0 + 4) / 4 = 2, plus σ² = 1
    torch.testing.assert_close(norm.shift, torch.full((2,), 2.0))
    torch.testing.assert_close(norm.scale, torch.full((2,), math.sqrt(3.0)))


def test_none_is_the_identity_and_denormalize_inverts_normalize():
    norm = LatentNormalization(2)
    norm.fit(means=MEANS, logvars=LOGVARS, kind="none")
    z = torch.randn(5, 2)
    assert torch.equal(norm.normalize(z), z)
    norm.fit(means=MEANS, logvars=LOGVARS, kind="per_dimension")
    torch.testing.assert_close(norm.denormalize(norm.normalize(z)), z)


def test_the_statistics_travel_in_the_state_dict():
    norm = LatentNormalization(2)
    norm.fit(means=MEANS, logvars=LOGVARS, kind="per_dimension")
    other = LatentNormalization(2)
    other.load_state_dict(norm.state_dict())
    assert torch.equal(other.shift, norm.shift) and torch.equal(other.scale, norm.scale)


def test_unknown_kind_is_a_user_error():
    with pytest.raises(DmlpError, match="per_dimension"):
        LatentNormalization(2).fit(means=MEANS, logvars=LOGVARS, kind="batch")
