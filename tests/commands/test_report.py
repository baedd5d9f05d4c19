"""`dmlp report` through the real CLI: on synthetic run and sweep folders (fast), and on a tiny trained run and a
2-job sweep with a failing job (slow), checking the tables, the failure reason and every PNG written."""

import csv
import json
import subprocess
import sys

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from dmlp_cli.cli import with_positional
from dmlp_cli.tracking.plots import PANEL_PX, grid_shape
from tests.commands.test_cli import TINY_JOINT, TINY_TRAIN, _one_line_error, dmlp
from tests.commands.test_prior_stage import TINY_PRIOR
from tests.tracking.synthetic_runs import make_run, make_sweep
from tests.tracking.test_plots import assert_png
from tests.test_startup import HEAVY


def _plotted_keys(records: list[dict], part: str) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record if key.startswith(part)))


def test_a_bare_path_is_the_path_and_the_report_imports_no_heavy_library(tmp_path):
    run = make_run(tmp_path / "a run, with [odd] name", prior=True)
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dmlp_cli", "report", str(run)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "matplotlib" in imported and not imported & HEAVY, sorted(imported & HEAVY)
    assert f"report: {run / 'report' / 'README.md'}" in result.stdout
    assert sorted(path.name for path in (run / "report").iterdir()) == [
        "README.md", "prior_train.png", "prior_valid.png", "train.png", "valid.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == [run.name]  # Hydra wrote nothing of its own

    sweep = make_sweep(tmp_path / "sweep")
    result = dmlp("report", f"path={sweep}", "sort=valid/token_ppl", "metric=train/loss", f"output={tmp_path / 'out'}",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sweep of 4 jobs: 2 finished, 1 failed, 1 running; sorted by valid/token_ppl (min)" in result.stdout
    assert [row["job"] for row in csv.DictReader((tmp_path / "out" / "jobs.csv").open())] == ["2", "0", "1", "3"]
    assert (tmp_path / "out" / "train_loss.png").is_file()


def test_bad_paths_and_metrics_give_one_clear_line(tmp_path):
    _one_line_error(dmlp("report", str(tmp_path / "missing"), cwd=tmp_path), "does not exist")
    (tmp_path / "empty").mkdir()
    _one_line_error(dmlp("report", "empty", cwd=tmp_path), "is neither a run folder", "nor a sweep folder")
    (tmp_path / "fresh" / ".hydra").mkdir(parents=True)
    (tmp_path / "fresh" / "config.yaml").write_text("trainer: {}\n")
    _one_line_error(dmlp("report", "fresh", cwd=tmp_path), "has no metrics.jsonl yet", "not logged a step")
    make_sweep(tmp_path / "sweep")
    _one_line_error(dmlp("report", "sweep", "sort=valid/bleu", cwd=tmp_path),
                    "sort=valid/bleu: no job of the sweep logged it; metrics available: train/loss", "valid/token_ppl")
    _one_line_error(dmlp("report", "sweep/1", cwd=tmp_path), "has no metrics.jsonl yet: it failed: DmlpError:")
    _one_line_error(dmlp("report", cwd=tmp_path), "no folder given")
    _one_line_error(dmlp("report", "sweep", "sweep/0", cwd=tmp_path), "one PATH at most, got 2 (sweep, sweep/0)")


@pytest.mark.parametrize("path", ["/tmp/a b/run", "it's", "a\\b", "end\\", "a,b", "[1]", "multirun/train/12-00-00"])
def test_a_bare_argument_reaches_hydra_as_exactly_that_path(path):
    converted = with_positional("report", ["--cfg", "job", path, "sort=x"])
    assert converted[:2] == ["--cfg", "job"] and converted[3] == "sort=x"
    assert OverridesParser.create().parse_override(converted[2]).value() == path
    assert with_positional("train", ["x"]) == ["x"]  # only commands with a positional argument


@pytest.mark.slow
def test_report_of_a_finished_two_stage_run(tmp_path):
    trained = dmlp("train", *TINY_JOINT, *TINY_PRIOR, "hydra.run.dir=run", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "run"
    assert json.loads((run / "FINISHED.json").read_text())["wall_time_s"] > 0
    assert len((run / "eval_samples" / "step-4.jsonl").read_text().splitlines()) == 4  # validation.num_generate

    result = dmlp("report", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for stage, prefix in ((run, ""), (run / "prior", "prior_")):
        records = [json.loads(line) for line in (stage / "metrics.jsonl").read_text().splitlines()]
        for part in ("train/", "valid/"):
            rows, columns = grid_shape(len(_plotted_keys(records, part)))
            assert_png(run / "report" / f"{prefix}{part.rstrip('/')}.png", width=columns * PANEL_PX[0],
                       height=rows * PANEL_PX[1])
    readme = (run / "report" / "README.md").read_text()
    assert "- status: finished in " in readme and "## Joint phase" in readme and "## Prior stage" in readme
    assert "| valid/reconstruction_bleu |" in readme and "| train/grad_norm |" in readme
    assert "4 of 4 samples from `eval_samples/step-4.jsonl`" in readme
    assert "4 of 4 samples from `prior/eval_samples/step-6.jsonl`" in readme


@pytest.mark.slow
def test_report_of_a_sweep_with_a_failed_job(tmp_path):
    swept = dmlp("train", "-m", *TINY_TRAIN, "trainer.precision=fp8,fp32", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert swept.returncode == 1, swept.stderr  # one job failed; the sweep went on

    result = dmlp("report", "sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = tmp_path / "sweep" / "report"
    rows = list(csv.DictReader((report / "jobs.csv").open()))
    assert [(row["job"], row["trainer.precision"], row["status"]) for row in rows] == \
        [("1", "fp32", "finished"), ("0", "fp8", "failed")]
    assert rows[1]["reason"] == "DmlpError: trainer.precision 'fp8' is not one of ['bf16', 'fp16', 'fp32']"
    assert float(rows[0]["best:valid/reconstruction_bleu"]) >= 0 and float(rows[0]["wall_time_s"]) > 0
    readme = (report / "README.md").read_text()
    assert "| 1 | fp32 | finished |" in readme and "| 0 | fp8 | failed |" in readme
    assert "DmlpError: trainer.precision 'fp8'" in readme
    assert_png(report / "valid_reconstruction_bleu.png", width=2 * PANEL_PX[0], height=2 * PANEL_PX[1])
