import pytest
import torch

from dmlp_cli.diffusion.clamping import NormClip
from dmlp_cli.errors import DmlpError


def test_norm_clip_scales_only_vectors_longer_than_max_norm():
    x0 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    torch.testing.assert_close(NormClip(max_norm=2.5)(x0), torch.tensor([[1.5, 2.0], [0.3, 0.4], [0.0, 0.0]]))
    per_position = torch.tensor([[[6.0, 8.0], [0.6, 0.8]]])  # [B, L, d]: each position on its own
    torch.testing.assert_close(NormClip(max_norm=1.0)(per_position), torch.tensor([[[0.6, 0.8], [0.6, 0.8]]]))


def test_non_positive_max_norm_is_a_user_error():
    with pytest.raises(DmlpError, match="max_norm"):
        NormClip(max_norm=0.0)
