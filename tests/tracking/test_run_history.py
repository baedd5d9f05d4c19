import json
import math

import pytest

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.run_history import Curve, higher_is_better, read_curves, run_curves, stage_logs
from tests.tracking.synthetic_runs import make_run, write_metrics


def test_a_resumed_run_keeps_the_later_record_of_a_repeated_step_and_a_torn_last_line_is_skipped(tmp_path):
    path = write_metrics(tmp_path, [{"step": 10, "train/loss": 3.0}, {"step": 20, "train/loss": 2.0},
                                    {"step": 10, "train/loss": 2.9}, {"step": 30, "train/loss": "nan", "note": "x"}])
    with path.open("a") as stream:
        stream.write('{"step": 40, "train/lo')  # a line still being written
    curves = read_curves(path)
    assert list(curves) == ["train/loss"]  # the non-numeric "note" is no curve
    assert curves["train/loss"].steps == [10, 20, 30]
    assert curves["train/loss"].values[:2] == [2.9, 2.0] and math.isnan(curves["train/loss"].values[2])


def test_final_is_the_last_step_and_best_skips_nan_in_the_metrics_direction():
    curve = Curve(steps=[1, 2, 3, 4], values=[0.5, 0.2, float("nan"), 0.2])
    assert curve.final()[0] == 4
    assert curve.best(maximize=False) == (2, 0.2)  # ties: the first step
    assert curve.best(maximize=True) == (1, 0.5)
    assert Curve(steps=[1], values=[float("inf")]).best(maximize=True) is None


@pytest.mark.parametrize("metric, higher", [
    ("valid/reconstruction_bleu", True), ("prior/valid/grammar_valid_rate", True), ("probe_accuracy", True),
    ("distinct_2", True), ("train/samples_per_s", True), ("self_bleu", False), ("valid/token_ppl", False),
    ("train/loss", False), ("valid/diffusion", False), ("train/lr", False),
])
def test_which_metrics_are_better_higher(metric, higher):
    assert higher_is_better(metric) is higher


def test_the_prior_stage_is_prefixed_in_one_namespace(tmp_path):
    run = make_run(tmp_path / "run", prior=True)
    assert list(stage_logs(run)) == ["", "prior/"]
    curves = run_curves(run)
    assert "valid/reconstruction_bleu" in curves and "prior/valid/reconstruction_bleu" in curves
    assert curves["prior/train/loss"].steps[-1] == 20 and curves["train/loss"].steps[-1] == 40


def test_a_file_that_is_not_a_metrics_log_is_named(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"text": "a sample"}) + "\n")
    with pytest.raises(DmlpError, match="metrics.jsonl:1 is not a metrics record"):
        read_curves(path)
