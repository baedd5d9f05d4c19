import sys
from types import SimpleNamespace

import pytest
import torch

from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.mauve_score import mauve_available, mauve_score


def test_missing_extra_is_a_user_error(monkeypatch):
    # A None entry in sys.modules makes `import mauve` raise ImportError.
    monkeypatch.setitem(sys.modules, "mauve", None)
    with pytest.raises(DmlpError) as info:
        mauve_score(torch.zeros(2, 3), torch.zeros(2, 3))
    assert str(info.value) == "MAUVE needs the optional extra: pip install 'dmlp[mauve]'"


def test_features_and_seed_are_passed_to_compute_mauve(monkeypatch):
    calls = []

    def compute_mauve(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(mauve=0.75)

    monkeypatch.setitem(sys.modules, "mauve", SimpleNamespace(compute_mauve=compute_mauve))
    p, q = torch.randn(4, 3), torch.randn(2, 3)
    assert mauve_score(p, q, seed=7) == 0.75
    assert set(calls[0]) == {"p_features", "q_features", "seed"} and calls[0]["seed"] == 7
    assert (calls[0]["p_features"] == p.numpy()).all() and (calls[0]["q_features"] == q.numpy()).all()


@pytest.mark.skipif(not mauve_available(), reason="the mauve extra is not installed (pip install 'dmlp[mauve]')")
def test_same_distribution_scores_near_1_and_far_apart_near_0():
    generator = torch.Generator().manual_seed(0)
    p, q = torch.randn(200, 8, generator=generator), torch.randn(200, 8, generator=generator)
    assert mauve_score(p, q) > 0.9
    assert mauve_score(p, q + 10) < 0.1
