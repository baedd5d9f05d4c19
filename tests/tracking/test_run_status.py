import os
import traceback

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.run_status import FAILED, FINISHED, clear_markers, failure_reason, mark_finished, read_status


def _traceback(error: BaseException) -> str:
    try:
        raise error
    except BaseException as raised:
        return "".join(traceback.format_exception(raised))


def test_the_reason_of_a_failure_is_its_exception_line_without_the_module_path():
    assert failure_reason(_traceback(DmlpError("trainer.precision 'fp8' is wrong"))) == \
        "DmlpError: trainer.precision 'fp8' is wrong"
    assert failure_reason(_traceback(ValueError("Invalid learning rate: -1.0"))) == \
        "ValueError: Invalid learning rate: -1.0"


def test_a_chained_and_multi_line_failure_gives_the_outermost_exception_on_one_line():
    try:
        try:
            raise ValueError("inner")
        except ValueError as inner:
            raise RuntimeError("Error in call to target 'Trainer':\nValueError('Invalid learning rate')") from inner
    except RuntimeError as outer:
        text = "".join(traceback.format_exception(outer))
    assert failure_reason(text) == "RuntimeError: Error in call to target 'Trainer': ValueError('Invalid learning rate')"


def test_finished_failed_and_running_folders(tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("[]\n")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n')
    start = (tmp_path / ".hydra" / "overrides.yaml").stat().st_mtime
    os.utime(tmp_path / "metrics.jsonl", (start + 30, start + 30))
    running = read_status(tmp_path, now=start + 90)
    assert running.state == "running" and running.reason == "last write 60 s ago" and running.wall_time_s == 30

    (tmp_path / FAILED).write_text(_traceback(DmlpError("out of data")))
    failed = read_status(tmp_path)
    assert failed.state == "failed" and failed.reason == "DmlpError: out of data"

    mark_finished(tmp_path, wall_time_s=12.5, final={"valid/bleu": 1.0})
    finished = read_status(tmp_path)
    assert finished.state == "finished" and finished.wall_time_s == 12.5  # FINISHED.json wins

    clear_markers(tmp_path)  # what a (re)started run does first
    assert not (tmp_path / FINISHED).exists() and not (tmp_path / FAILED).exists()
    assert read_status(tmp_path).state == "running"


def test_an_empty_folder_is_running_with_nothing_written(tmp_path):
    status = read_status(tmp_path)
    assert status.state == "running" and status.reason == "nothing written yet" and status.wall_time_s is None
