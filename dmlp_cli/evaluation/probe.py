"""Linear probe accuracy: how much label information latents expose linearly.

A multinomial logistic regression is fitted on a seeded train split of the
latents and scored on the held-out rest. Features are standardised with the
train-split mean and std, so the weight decay penalises every dimension alike
whatever the latent scale. The fit minimises, full-batch with LBFGS from zero
weights (a convex problem, so the optimum does not depend on the start),

    loss(W, b) = mean_i cross_entropy(x_i W + b, y_i) + weight_decay / 2 * ||W||^2

and the result is the test-split accuracy in [0, 1]. The seed only picks the
split, so the same seed always gives the same accuracy.
"""

import torch
import torch.nn.functional as F


def linear_probe_accuracy(
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    epochs: int = 200,
    weight_decay: float = 1e-4,
) -> float:
    """Test accuracy of a logistic-regression probe on `features` [N, d] for integer `labels` [N]."""
    if features.dim() != 2 or labels.dim() != 1 or features.shape[0] != labels.shape[0]:
        raise ValueError(
            f"linear_probe_accuracy needs features [N, d] and labels [N], got {tuple(features.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    classes, targets = torch.unique(labels.detach().cpu(), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"linear_probe_accuracy needs at least 2 classes, got {len(classes)}")
    num_samples = features.shape[0]
    num_test = round(num_samples * test_fraction)
    if num_test < 1 or num_samples - num_test < 2:
        raise ValueError(
            f"linear_probe_accuracy got {num_samples} samples: too few for a train and a test split "
            f"with test_fraction={test_fraction}"
        )

    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    test_idx, train_idx = order[:num_test], order[num_test:]
    x = features.detach().to("cpu", torch.float64)
    mean, std = x[train_idx].mean(0), x[train_idx].std(0).clamp_min(1e-8)
    x = (x - mean) / std

    weight = torch.zeros(x.shape[1], len(classes), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(len(classes), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=epochs, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = x[train_idx] @ weight + bias
        loss = F.cross_entropy(logits, targets[train_idx]) + weight_decay / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predictions = (x[test_idx] @ weight + bias).argmax(1)
    return (predictions == targets[test_idx]).double().mean().item()
