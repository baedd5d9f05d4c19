"""The report of a `-m` sweep: one row per job (its swept overrides, status, wall time, final and best
metrics) as README.md and jobs.csv, sorted by one metric, and a PNG of that metric's curve for every job.

Jobs are ranked by the best value of the sort metric each reached (what its `best` checkpoint holds);
jobs that never logged it (failed, or not evaluated yet) come last, in job order: never dropped.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from dmlp_cli.data.jsonl import write_atomically
from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.plots import plot_overlay
from dmlp_cli.tracking.run_history import higher_is_better
from dmlp_cli.tracking.sweep_jobs import Job, common_overrides, swept_keys
from dmlp_cli.tracking.tables import csv_text, duration, markdown_table, number

SORT_MODES = ("auto", "max", "min")


@dataclass(frozen=True)
class Ranking:
    metric: str
    maximize: bool

    def best(self, job: Job) -> tuple[int, float] | None:
        curve = job.curves.get(self.metric)
        return curve.best(maximize=self.maximize) if curve is not None else None

    def order(self, jobs: list[Job]) -> list[Job]:
        def key(job: Job) -> tuple[bool, float]:
            best = self.best(job)
            if best is None:
                return True, 0.0
            return False, -best[1] if self.maximize else best[1]

        return sorted(jobs, key=key)  # stable: ties and unranked jobs keep their job order


def status_counts(jobs: list[Job]) -> str:
    states = [job.status.state for job in jobs]
    return ", ".join(f"{states.count(state)} {state}" for state in ("finished", "failed", "running"))


def available_metrics(jobs: list[Job]) -> list[str]:
    return list(dict.fromkeys(name for job in jobs for name in job.curves))


def check_metric(metric: str, *, jobs: list[Job], setting: str) -> None:
    available = available_metrics(jobs)
    if metric not in available:
        listed = ", ".join(available) if available else "none: no job has logged a metric yet"
        raise DmlpError(f"{setting}={metric}: no job of the sweep logged it; metrics available: {listed}")


def ranking(metric: str, *, mode: str) -> Ranking:
    if mode not in SORT_MODES:
        raise DmlpError(f"sort_mode={mode} is not one of {', '.join(SORT_MODES)} (auto: max for BLEU, rates, "
                        "accuracy, MAUVE and distinct-n, min for losses and the rest)")
    return Ranking(metric=metric, maximize=higher_is_better(metric) if mode == "auto" else mode == "max")


def _shown_metrics(jobs: list[Job], *, metric: str) -> list[str]:
    """The sort metric's stage's evaluation metrics besides it (`valid/...` or `prior/valid/...`)."""
    stage = metric[: metric.index("valid/")] if "valid/" in metric else ""
    return [name for name in available_metrics(jobs) if name.startswith(stage + "valid/") and name != metric]


def _final(job: Job, metric: str) -> float | None:
    curve = job.curves.get(metric)
    return curve.final()[1] if curve is not None else None


def _markdown(jobs: list[Job], *, order: Ranking, swept: list[str], sweep_dir: Path, image: Path | None) -> str:
    others = _shown_metrics(jobs, metric=order.metric)
    header = ["job", *swept, "status", "wall time", f"best {order.metric}", "at step", f"final {order.metric}",
              *(f"final {name}" for name in others), "reason"]
    rows = []
    for job in order.order(jobs):
        best = order.best(job)
        rows.append([job.name, *(job.settings.get(key, "") for key in swept), job.status.state,
                     duration(job.status.wall_time_s), number(best[1]) if best else "", str(best[0]) if best else "",
                     number(_final(job, order.metric)), *(number(_final(job, name)) for name in others),
                     job.status.reason])
    page = [f"# Sweep report: {sweep_dir}\n", f"{len(jobs)} jobs: {status_counts(jobs)}. Sorted by the best "
            f"`{order.metric}` ({'max' if order.maximize else 'min'}) each job reached; jobs without it last.\n",
            f"Overrides of every job: `{' '.join(common_overrides(jobs)) or '(none)'}`\n",
            markdown_table(header, rows), "The same table with every metric's final and best value: "
            "[jobs.csv](jobs.csv)\n"]
    if image is not None:
        page.append(f"![{image.stem}]({image.name})\n")
    return "\n".join(page)


def _csv(jobs: list[Job], *, order: Ranking, swept: list[str]) -> str:
    """Every metric's final and best value (best in its own direction), raw numbers; NaN/inf as Python writes them."""
    metrics = available_metrics(jobs)
    header = ["job", *swept, "status", "reason", "wall_time_s", "overrides",
              *(f"{kind}:{name}" for name in metrics for kind in ("final", "best"))]
    rows = []
    for job in order.order(jobs):
        values = []
        for name in metrics:
            curve = job.curves.get(name)
            best = curve.best(maximize=higher_is_better(name)) if curve is not None else None
            values += [curve.final()[1] if curve is not None else "", best[1] if best else ""]
        wall = job.status.wall_time_s
        rows.append([job.name, *(job.settings.get(key, "") for key in swept), job.status.state, job.status.reason,
                     round(wall, 1) if wall is not None and math.isfinite(wall) else "", " ".join(job.overrides),
                     *values])
    return csv_text(header, rows)


def write_sweep_report(sweep_dir: Path, *, jobs: list[Job], order: Ranking, plotted: str, output: Path) -> list[Path]:
    """README.md, jobs.csv and the PNG of `plotted` for every job that logged it, in `output`; the files written."""
    swept = swept_keys(jobs)
    curves = {f"job {job.name}: " + " ".join(f"{key}={job.settings[key]}" for key in swept if key in job.settings):
              job.curves[plotted] for job in jobs if plotted in job.curves}
    image = plot_overlay(output / f"{plotted.replace('/', '_')}.png", curves=curves, metric=plotted,
                         title=f"{plotted} per job ({sweep_dir.name})") if curves else None
    table = write_atomically(output / "jobs.csv", _csv(jobs, order=order, swept=swept))
    readme = write_atomically(output / "README.md", _markdown(jobs, order=order, swept=swept, sweep_dir=sweep_dir,
                                                              image=image))
    return [readme, table, *([image] if image else [])]
