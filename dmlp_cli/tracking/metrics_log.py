"""What training keeps locally, whatever the logger: metrics.jsonl (one JSON object per logged step) and the
texts each evaluation generated (eval_samples/step-N.jsonl, readable by `dmlp score` and `dmlp report`)."""

import json
import math
from pathlib import Path

from dmlp_cli.data.jsonl import write_jsonl

EVAL_SAMPLES = "eval_samples"


def _plain(value):
    """JSON has no NaN/inf; keep them readable as strings instead of writing invalid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLog:
    """Append-only, flushed per line, so a crashed run still has every metric up to the crash."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, metrics: dict, *, step: int) -> None:
        record = {"step": step, **{key: _plain(value) for key, value in metrics.items()}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")


def read_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, record) of every complete line of a metrics.jsonl, in order: the last line of a log still
    being written, or of a killed run, is not JSON yet and is skipped. NaN/inf come back as the strings written."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError:
            continue
    return records


def write_eval_samples(run_dir: Path, *, step: int, texts: list[str]) -> Path:
    return write_jsonl(Path(run_dir) / EVAL_SAMPLES / f"step-{step}.jsonl", [{"step": step, "text": t} for t in texts])


def latest_eval_samples(run_dir: Path) -> Path | None:
    """The samples file of the run's last evaluation that generated any."""
    files = list((Path(run_dir) / EVAL_SAMPLES).glob("step-*.jsonl"))
    return max(files, key=lambda path: int(path.stem.removeprefix("step-")), default=None)
