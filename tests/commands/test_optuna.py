"""`dmlp train -m hparams_search=optuna` through the real CLI: the sweep extra's Optuna sweeper reads the metric
each trial returns, a failed trial is recorded and the search goes on, and a metric the run lacks stops it."""

import json

import pytest
from omegaconf import OmegaConf

from dmlp_cli.sweeps import PLUGINS, installed
from tests.commands.test_cli import TINY_TRAIN, dmlp

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not installed(PLUGINS["hparams_search", "optuna"]),
                       reason="the sweep extra is not installed: pip install 'dmlp[sweep]'"),
]
SEARCH = ["-m", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "hydra.sweep.dir=sweep", *TINY_TRAIN]


def test_a_search_optimises_the_returned_metric_past_a_failed_trial(tmp_path):
    # Optuna's seeded random start-up (seed 3) gives one trial fp8, which fails before training, and one fp32
    result = dmlp("train", *SEARCH, "hydra.sweeper.sampler.seed=3", "trainer.precision=choice(fp8,fp32)", cwd=tmp_path)
    failed = [job for job in ("0", "1") if (tmp_path / "sweep" / job / "FAILED.txt").is_file()]
    assert result.returncode == 1 and len(failed) == 1, result.stderr
    assert f"job {failed[0]} failed: trainer.precision 'fp8'" in result.stderr
    finished = tmp_path / "sweep" / ("1" if failed == ["0"] else "0")
    last = json.loads((finished / "metrics.jsonl").read_text().splitlines()[-1])
    results = OmegaConf.load(tmp_path / "sweep" / "optimization_results.yaml")
    assert results.best_value == pytest.approx(last["valid/reconstruction_bleu"])
    assert results.best_params["trainer.precision"] == "fp32"
    assert set(results.best_params) == {"trainer.lr", "trainer.warmup_steps", "decoder.dropout", "trainer.precision"}


def test_a_metric_the_run_does_not_report_stops_the_search_after_one_trial(tmp_path):
    result = dmlp("train", *SEARCH, "optimized_metric=valid/bleu", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error) == 1 and "optimized_metric=valid/bleu is not among" in error[0]
    assert "valid/reconstruction_bleu" in error[0]
    assert not (tmp_path / "sweep" / "1").exists()
