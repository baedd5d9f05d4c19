"""What a run folder's metrics.jsonl files say: one curve per metric, with its final and best value.

A run with a prior stage has two logs, RUN/metrics.jsonl and RUN/prior/metrics.jsonl, each with its own
steps; the prior stage's metrics are named with a `prior/` prefix (`prior/valid/grammar_valid_rate`) so
both stages fit one namespace, and a sweep can be sorted by either.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.metrics_log import read_records

STAGES = {"": ".", "prior/": "prior"}  # metric prefix -> the stage's folder inside the run
# Words of metric names where more is better (and throughput, `..._per_s`); everything else (losses,
# perplexities, KL, grad norm, self-BLEU: lower is more diverse) is better lower.
HIGHER_IS_BETTER = {"bleu", "rate", "accuracy", "mauve", "distinct"}


def higher_is_better(metric: str) -> bool:
    name = metric.rsplit("/", 1)[-1]
    if name.startswith("self_bleu"):
        return False
    return bool(HIGHER_IS_BETTER & set(name.split("_"))) or name.endswith("_per_s")


@dataclass(frozen=True)
class Curve:
    steps: list[int]
    values: list[float]

    def final(self) -> tuple[int, float]:
        return self.steps[-1], self.values[-1]

    def best(self, *, maximize: bool) -> tuple[int, float] | None:
        """The best finite value and its step (the first, on ties); None when every value is NaN/inf."""
        finite = [(value, step) for step, value in zip(self.steps, self.values) if math.isfinite(value)]
        if not finite:
            return None
        value, step = (max if maximize else min)(finite, key=lambda pair: pair[0])
        return step, value


def _number(value) -> float | None:
    """Logged values are numbers, or "nan"/"inf" strings (metrics_log keeps the JSON valid); others are skipped."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def read_curves(path: Path) -> dict[str, Curve]:
    """The curves of one metrics.jsonl, in the order metrics first appear. A resumed run logs the steps after
    its checkpoint again: the later record of a step wins."""
    by_metric: dict[str, dict[int, float]] = {}
    for number, record in read_records(path):
        if not isinstance(record, dict) or "step" not in record:
            raise DmlpError(f"{path}:{number} is not a metrics record (no 'step'); is this a dmlp metrics.jsonl?")
        for key, value in record.items():
            number_value = _number(value)
            if key != "step" and number_value is not None:
                by_metric.setdefault(key, {})[int(record["step"])] = number_value
    return {key: Curve(steps=sorted(points), values=[points[step] for step in sorted(points)])
            for key, points in by_metric.items()}


def stage_logs(run_dir: Path) -> dict[str, Path]:
    """prefix -> metrics.jsonl, for the stages of the run that have logged anything."""
    logs = {prefix: Path(run_dir) / folder / "metrics.jsonl" for prefix, folder in STAGES.items()}
    return {prefix: path for prefix, path in logs.items() if path.is_file()}


def run_curves(run_dir: Path) -> dict[str, Curve]:
    """Every stage's curves in one namespace (the prior stage's prefixed with `prior/`)."""
    return {prefix + key: curve for prefix, path in stage_logs(run_dir).items()
            for key, curve in read_curves(path).items()}
