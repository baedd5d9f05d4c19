"""metrics.jsonl: one JSON object per logged step, always written, whatever the logger."""

import json
import math
from pathlib import Path


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

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
