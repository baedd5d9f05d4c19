import sys
from types import SimpleNamespace

import pytest

from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.mauve_score import mauve_score


def test_missing_extra_is_a_user_error(monkeypatch):
    # A None entry in sys.modules makes `import mauve` raise ImportError.
    monkeypatch.setitem(sys.modules, "mauve", None)
    with pytest.raises(DmlpError) as info:
        mauve_score(["a"], ["b"])
    assert str(info.value) == "MAUVE needs the optional extra: pip install 'dmlp[mauve]'"


def test_arguments_are_passed_to_compute_mauve(monkeypatch):
    calls = []

    def compute_mauve(**kwargs):
        calls.append(kwargs)
        return SimpleNamespace(mauve=0.75)

    monkeypatch.setitem(sys.modules, "mauve", SimpleNamespace(compute_mauve=compute_mauve))
    score = mauve_score(
        ("human one", "human two"),
        ("model one",),
        featurize_model_name="gpt2",
        device_id=0,
        max_text_length=64,
        seed=7,
    )
    assert score == 0.75
    assert calls == [
        {
            "p_text": ["human one", "human two"],
            "q_text": ["model one"],
            "featurize_model_name": "gpt2",
            "device_id": 0,
            "max_text_length": 64,
            "seed": 7,
        }
    ]
