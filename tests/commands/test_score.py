"""`dmlp score` on the AR baseline: scores.json defines each number beside it (scorer, aggregation, counts, how the
samples were drawn), rep-4, and MAUVE against references in the scorer's own features when the extra is there."""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from dmlp_cli.cli import config_dir
from dmlp_cli.commands import score as score_command
from dmlp_cli.config_schema import register_schemas
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.mauve_score import mauve_available
from tests.commands.test_cli import dmlp

register_schemas()
COUNTS = {"num_samples", "reference_count", "perplexity_tokens", "perplexity_truncated"}


def _scorer(run: Path) -> str:
    return str(run / "checkpoints" / "last" / "pretrained")


@pytest.mark.slow
def test_the_ar_baselines_samples_are_scored_with_their_definitions(causal_lm_run, tmp_path):
    samples, references = tmp_path / "samples.jsonl", causal_lm_run.parent / "corpus" / "valid.jsonl"
    result = dmlp("sample", f"ckpt={causal_lm_run / 'checkpoints/last'}", "n=30", "decoding=sampling",
                  f"output={samples}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = dmlp("score", f"samples={samples}", "scorer=local", f"scorer.name_or_path={_scorer(causal_lm_run)}",
                  f"references={references}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    block = scores.pop("definition")
    assert 0 <= scores["rep_4"] <= 1 and scores["num_samples"] == 30 and scores["reference_count"] == 12
    assert ("mauve" in scores) == mauve_available()
    assert set(block["metrics"]) == set(scores) - COUNTS  # every number but the counts has its definition
    assert "each text scored on its own as [bos] text [eos]" in block["metrics"]["perplexity"]
    assert block["samples"]["count"] == 30 and block["references"] == {"path": str(references), "count": 12}
    drawn = block["samples"]["drawn_with"]
    assert drawn["family"] == "causal_lm" and drawn["decoding_options"]["temperature"] == 1.0
    assert drawn["ckpt"].startswith(str(causal_lm_run / "checkpoints"))
    assert block["scorer"]["architecture"] == "GPT2LMHeadModel" and block["scorer"]["parameters"] > 0
    assert block["scorer"]["layers"] == 1 and block["scorer"]["hidden_size"] == 32
    assert "30 samples: causal_lm, decoding Sampling (temperature 1.0)" in result.stdout
    assert "GPT2LMHeadModel" in result.stdout and "12 references" in result.stdout


def _score(tmp_path: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="score", overrides=[f"samples={tmp_path / 'samples.jsonl'}", *overrides])
    return score_command.score(cfg)


def _diffusion_samples(tmp_path: Path) -> None:
    """Samples with the .meta.json `dmlp sample` writes for a diffusion run."""
    texts = ["the pasta was great .", "the staff were friendly .", "the fries were cold cold cold cold cold ."]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    (tmp_path / "samples.meta.json").write_text(json.dumps({
        "mode": "generate", "family": "latent", "ckpt": "RUN/checkpoints/step-9", "step": 9, "seed": 0,
        "sampler": "dmlp_cli.diffusion.samplers.DPMSolverSampler", "steps": 20, "top_p": 0.9, "clamp": None,
        "decoding": "dmlp_cli.models.decoding.Greedy", "decoding_options": {}, "seconds": 1.0,
    }))


def test_the_samples_settings_come_from_their_meta_file(tmp_path, capsys):
    _diffusion_samples(tmp_path)
    scores = _score(tmp_path, "mauve=false")
    block = json.loads((tmp_path / "scores.json").read_text())["definition"]
    assert block["samples"]["drawn_with"]["steps"] == 20 and "seconds" not in block["samples"]["drawn_with"]
    assert block["scorer"] is None and block["references"] is None
    assert scores["rep_4"] == pytest.approx((1 - 5 / 6) / 3)  # the third sample: 6 4-grams, 5 distinct; others 0
    out = capsys.readouterr().out
    assert "3 samples: DPMSolverSampler 20 steps top_p 0.9, decoding Greedy, from RUN/checkpoints/step-9" in out
    assert "MAUVE skipped" not in out


def test_mauve_without_the_extra_is_skipped_in_one_line_or_an_error_when_asked_for(tmp_path, monkeypatch, capsys):
    _diffusion_samples(tmp_path)
    monkeypatch.setattr(score_command, "mauve_available", lambda: False)
    assert "mauve" not in _score(tmp_path)
    skipped = [line for line in capsys.readouterr().out.splitlines() if "MAUVE" in line]
    assert skipped == ["MAUVE skipped: it needs the optional extra (pip install 'dmlp[mauve]') and references=FILE "
                       "(held-out real text) and a scorer= LM for the features (mauve=false hides this line)"]
    with pytest.raises(DmlpError, match=r"^mauve=true needs the optional extra \(pip install 'dmlp\[mauve\]'\)"):
        _score(tmp_path, "mauve=true")
    with pytest.raises(DmlpError, match="mauve=sometimes is not one of auto, true, false"):
        _score(tmp_path, "mauve=sometimes")


def test_grammar_true_scores_validity_whatever_the_meta_file_says(tmp_path):
    _diffusion_samples(tmp_path)
    assert "grammar_valid_rate" in _score(tmp_path, "grammar=true", "mauve=false")
    assert "grammar_valid_rate" not in _score(tmp_path, "grammar=false", "mauve=false")
