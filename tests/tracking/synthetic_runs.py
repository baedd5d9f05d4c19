"""Run and sweep folders laid out as `dmlp train` and Hydra's launcher write them, without training: what the
report tests read. The records follow a real run's keys (train/ loss parts, lr, grad norm, throughput;
valid/ losses, BLEU and the toy grammar's rates)."""

import json
import os
import traceback
from pathlib import Path

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.metrics_log import write_eval_samples
from dmlp_cli.tracking.run_status import FAILED, mark_finished


def training_records(*, steps: int, every: int, scale: float = 1.0) -> list[dict]:
    """train/ records every `every` steps and a valid/ record every 2 * `every`, as the trainer logs them."""
    records = []
    for step in range(every, steps + 1, every):
        records.append({"step": step, "train/loss": scale * 5.0 / step, "train/reconstruction": scale * 4.0 / step,
                        "train/diffusion": 0.1, "train/grad_norm": 1.0 + 1 / step, "train/lr": 1e-3 * (1 - step / steps),
                        "train/samples_per_s": 500.0 + step % 7, "train/skipped_steps": 0})
        if step % (2 * every) == 0:
            records.append({"step": step, "valid/reconstruction": scale / step, "valid/token_ppl": 1 + scale / step,
                            "valid/reconstruction_bleu": 100 - scale * 100 / step, "valid/grammar_valid_rate": 0.5})
    return records


def write_metrics(folder: Path, records: list[dict]) -> Path:
    path = folder / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def make_run(folder: Path, *, overrides: list[str] = (), prior: bool = False, finished: bool = True,
             scale: float = 1.0, samples: bool = True) -> Path:
    """A run folder: .hydra/overrides.yaml, config.yaml, metrics.jsonl (and prior/), eval samples, FINISHED.json."""
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides) or "[]\n")
    (folder / "config.yaml").write_text("trainer:\n  best_metric: valid/reconstruction_bleu\n  best_mode: max\n")
    write_metrics(folder, training_records(steps=40, every=5, scale=scale))
    if samples:
        write_eval_samples(folder, step=40, texts=["the pasta was great .", "i loved | it *", "the fries were cold ."])
    if prior:
        write_metrics(folder / "prior", training_records(steps=20, every=5, scale=scale / 2))
    if finished:
        mark_finished(folder, wall_time_s=75.0, final={})
    return folder


def make_failed_job(folder: Path, *, overrides: list[str]) -> Path:
    """A job that failed before logging anything, with FAILED.txt holding a real traceback, as cli.py writes it."""
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {item}\n" for item in overrides))
    try:
        raise DmlpError("trainer.precision 'fp8' is not one of ['bf16', 'fp16', 'fp32']")
    except DmlpError as error:
        (folder / FAILED).write_text("".join(traceback.format_exception(error)))
    return folder


def make_sweep(folder: Path) -> Path:
    """Three jobs over trainer.lr: 0 finished (worse), 1 failed, 2 finished (better BLEU), 3 running (no eval yet)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    common = ["logger=none", "trainer.max_steps=40"]
    make_run(folder / "0", overrides=[*common, "trainer.lr=1e-3"], scale=4.0)
    make_failed_job(folder / "1", overrides=[*common, "trainer.lr=-1"])
    make_run(folder / "2", overrides=[*common, "trainer.lr=3e-3"], scale=1.0)
    running = make_run(folder / "3", overrides=[*common, "trainer.lr=1e-2"], finished=False, samples=False)
    write_metrics(running, training_records(steps=5, every=5))
    now = (running / "metrics.jsonl").stat().st_mtime
    for path, age in ((running / ".hydra" / "overrides.yaml", 300), (running / "config.yaml", 300),
                      (running / "metrics.jsonl", 120)):
        os.utime(path, (now - age, now - age))  # started 5 minutes ago, last wrote 2 minutes ago
    return folder
