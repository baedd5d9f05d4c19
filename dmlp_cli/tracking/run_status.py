"""Whether a run folder's training finished, failed or is still going, told by two marker files.

A folder with checkpoints and metrics looks the same whether its run is still training, was killed, or
ended: only the process knows. So `dmlp train` writes FINISHED.json (atomically, wall time and final
metrics) as its last act, and a failed job of a sweep gets FAILED.txt with its traceback (cli.py). Both
are cleared when a run (re)starts in the folder, so a resumed run is not taken for its earlier outcome.
A folder with neither is running, or was killed; the time since its last write tells which is likelier.
"""

import json
import time
from dataclasses import dataclass
from pathlib import Path

from dmlp_cli.data.jsonl import write_json

FINISHED = "FINISHED.json"
FAILED = "FAILED.txt"


@dataclass(frozen=True)
class Status:
    state: str  # finished | failed | running
    reason: str  # failed: the exception line of the traceback; running: how long since the last write
    wall_time_s: float | None  # finished: measured by train; otherwise from the job's first to its last write


def clear_markers(run_dir: Path) -> None:
    for name in (FINISHED, FAILED):
        (Path(run_dir) / name).unlink(missing_ok=True)


def mark_finished(run_dir: Path, *, wall_time_s: float, final: dict) -> None:
    write_json(Path(run_dir) / FINISHED, {"wall_time_s": wall_time_s, "final": final})


def failure_reason(traceback_text: str) -> str:
    """The exception line(s) after the last stack frame, on one line, without the exception's module path."""
    lines = traceback_text.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=-1)
    reason = " ".join(line.strip() for line in lines[last_frame + 1:] if line.strip())
    kind, separator, message = reason.partition(": ")
    return f"{kind.rsplit('.', 1)[-1]}{separator}{message}" if " " not in kind else reason


def _started(job_dir: Path) -> float | None:
    """When the job began: Hydra writes .hydra/ (or train writes config.yaml) first."""
    for marker in (job_dir / ".hydra" / "overrides.yaml", job_dir / "config.yaml"):
        if marker.is_file():
            return marker.stat().st_mtime
    return None


def _last_write(job_dir: Path) -> float | None:
    """The newest of the files a training job keeps writing (metrics of either stage, the failure record)."""
    files = [job_dir / FAILED, job_dir / "metrics.jsonl", job_dir / "prior" / "metrics.jsonl", job_dir / "config.yaml"]
    times = [path.stat().st_mtime for path in files if path.is_file()]
    return max(times, default=None)


def read_status(job_dir: Path, *, now: float | None = None) -> Status:
    job_dir = Path(job_dir)
    finished = job_dir / FINISHED
    if finished.is_file():
        return Status(state="finished", reason="", wall_time_s=json.loads(finished.read_text())["wall_time_s"])
    started, last = _started(job_dir), _last_write(job_dir)
    elapsed = last - started if started is not None and last is not None else None
    failed = job_dir / FAILED
    if failed.is_file():
        return Status(state="failed", reason=failure_reason(failed.read_text()), wall_time_s=elapsed)
    idle = (now if now is not None else time.time()) - last if last is not None else None
    return Status(state="running", reason=f"last write {idle:.0f} s ago" if idle is not None else "nothing written yet",
                  wall_time_s=elapsed)
