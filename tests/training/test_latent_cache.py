import pytest
import torch
from torch.utils.data import DataLoader

from dmlp_cli.training.latent_cache import CachedLatents


def test_a_micro_batch_is_one_indexing_of_the_cached_tensors():
    means, logvars = torch.randn(10, 3), torch.randn(10, 3)
    cached = CachedLatents(means=means, logvars=logvars)
    loader = DataLoader(cached, batch_sampler=[[4, 1, 7]], collate_fn=CachedLatents.collate)
    batch = next(iter(loader))
    assert torch.equal(batch["latent_mean"], means[[4, 1, 7]])
    assert torch.equal(batch["latent_logvar"], logvars[[4, 1, 7]])
    assert torch.equal(cached[1]["latent_mean"], means[1]) and len(cached) == 10


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        CachedLatents(means=torch.zeros(4, 3), logvars=torch.zeros(4, 2))
