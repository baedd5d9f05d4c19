import csv

import pytest

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.plots import PANEL_PX
from dmlp_cli.tracking.sweep_jobs import read_jobs
from dmlp_cli.tracking.sweep_report import check_metric, ranking, write_sweep_report
from tests.tracking.synthetic_runs import make_sweep
from tests.tracking.test_plots import assert_png


@pytest.fixture
def jobs(tmp_path):
    return read_jobs(make_sweep(tmp_path / "sweep"))


def _table_rows(readme: str) -> list[list[str]]:
    lines = [line for line in readme.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_jobs_are_ranked_by_their_best_value_and_the_failed_and_unevaluated_ones_come_last(jobs, tmp_path):
    order = ranking("valid/reconstruction_bleu", mode="auto")
    assert order.maximize
    assert [job.name for job in order.order(jobs)] == ["2", "0", "1", "3"]
    assert [job.name for job in ranking("valid/reconstruction_bleu", mode="min").order(jobs)] == ["0", "2", "1", "3"]
    assert [job.name for job in ranking("valid/token_ppl", mode="auto").order(jobs)] == ["2", "0", "1", "3"]


def test_the_markdown_and_csv_tables_list_every_job_with_its_status_and_reason(jobs, tmp_path):
    sweep = tmp_path / "sweep"
    written = write_sweep_report(sweep, jobs=jobs, order=ranking("valid/reconstruction_bleu", mode="auto"),
                                 plotted="valid/reconstruction_bleu", output=sweep / "report")
    assert [path.name for path in written] == ["README.md", "jobs.csv", "valid_reconstruction_bleu.png"]
    readme = written[0].read_text()
    header, _, *rows = _table_rows(readme)
    assert header[:4] == ["job", "trainer.lr", "status", "wall time"]
    assert header[-1] == "reason" and "final valid/token_ppl" in header
    assert [row[:3] for row in rows] == [["2", "3e-3", "finished"], ["0", "1e-3", "finished"], ["1", "-1", "failed"],
                                         ["3", "1e-2", "running"]]
    assert rows[0][3] == "1 min 15 s" and rows[0][4] == "97.5" and rows[0][5] == "40"
    assert rows[2][-1] == "DmlpError: trainer.precision 'fp8' is not one of ['bf16', 'fp16', 'fp32']"
    assert rows[3][-1] == "last write 120 s ago" and rows[3][3] == "3 min 00 s"
    assert "4 jobs: 2 finished, 1 failed, 1 running" in readme
    assert "`logger=none trainer.max_steps=40`" in readme and "![valid_reconstruction_bleu]" in readme

    records = list(csv.DictReader(written[1].open()))
    assert [record["job"] for record in records] == ["2", "0", "1", "3"]
    assert records[0]["best:valid/reconstruction_bleu"] == "97.5" and records[0]["wall_time_s"] == "75.0"
    assert records[0]["best:train/loss"] == str(5.0 / 40) and records[1]["final:train/loss"] == str(20.0 / 40)
    assert records[2]["status"] == "failed" and records[2]["final:train/loss"] == ""
    assert records[2]["overrides"] == "logger=none trainer.max_steps=40 trainer.lr=-1"
    assert_png(written[2], width=2 * PANEL_PX[0], height=2 * PANEL_PX[1])


def test_a_prior_stage_metric_shows_the_prior_stages_evaluation_metrics(jobs, tmp_path):
    written = write_sweep_report(tmp_path, jobs=jobs, order=ranking("train/loss", mode="auto"), plotted="train/lr",
                                 output=tmp_path / "out")
    header = _table_rows(written[0].read_text())[0]
    assert "best train/loss" in header and "final valid/reconstruction_bleu" in header
    assert written[2].name == "train_lr.png"


def test_unknown_metrics_and_modes_are_named_with_what_is_available(jobs):
    with pytest.raises(DmlpError, match=r"sort=valid/bleu: no job of the sweep logged it; metrics available: "
                                        r"train/loss, train/reconstruction, .*valid/reconstruction_bleu"):
        check_metric("valid/bleu", jobs=jobs, setting="sort")
    check_metric("valid/token_ppl", jobs=jobs, setting="metric")
    with pytest.raises(DmlpError, match="sort_mode=best is not one of auto, max, min"):
        ranking("valid/token_ppl", mode="best")
