import pytest
import torch

from dmlp_cli.evaluation.probe import linear_probe_accuracy


def _blobs(*, per_class: int = 100, dim: int = 8, num_classes: int = 3, seed: int = 0):
    """Gaussian blobs with unit spread whose centres are 6 apart: linearly separable."""
    generator = torch.Generator().manual_seed(seed)
    centres = 6.0 * torch.eye(num_classes, dim)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    features = centres[labels] + torch.randn(len(labels), dim, generator=generator)
    return features, labels


def test_separable_blobs_are_probed_almost_perfectly():
    features, labels = _blobs()
    assert linear_probe_accuracy(features, labels) >= 0.95


def test_labels_need_not_be_contiguous():
    features, labels = _blobs(num_classes=2)
    assert linear_probe_accuracy(features, labels * 4 + 3) >= 0.95


def test_random_labels_give_chance_accuracy():
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(500, 8, generator=generator)
    labels = torch.randint(0, 2, (500,), generator=generator)
    # 100 test samples at chance: accuracy 0.5 with a standard deviation of 0.05.
    assert abs(linear_probe_accuracy(features, labels) - 0.5) < 0.15


def test_same_seed_same_accuracy():
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(200, 4, generator=generator)
    labels = (features[:, 0] + torch.randn(200, generator=generator) > 0).long()
    first = linear_probe_accuracy(features, labels, seed=3)
    assert linear_probe_accuracy(features, labels, seed=3) == first


def test_one_class_raises():
    with pytest.raises(ValueError, match="at least 2 classes"):
        linear_probe_accuracy(torch.randn(20, 3), torch.zeros(20, dtype=torch.long))


def test_too_few_samples_raise():
    with pytest.raises(ValueError, match="too few"):
        linear_probe_accuracy(torch.randn(2, 3), torch.tensor([0, 1]))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"features \[N, d\] and labels \[N\]"):
        linear_probe_accuracy(torch.randn(10, 3), torch.zeros(9, dtype=torch.long))
