"""`dmlp report PATH`: what a run or a sweep did, as files beside it (PATH/report/ unless output=DIR).

A run folder (from `dmlp train`) gets PNGs of its training and evaluation curves per stage and a README.md
with status, final and best metrics and a sample gallery; a sweep folder (from `dmlp train -m`) gets one
row per job in README.md and jobs.csv, and one PNG of a metric's curve for every job. It reads only what
training wrote (metrics.jsonl, the status markers, Hydra's overrides), so it imports no torch and works
on a run that is still training.
"""

from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from dmlp_cli.errors import DmlpError
from dmlp_cli.tracking.console import console
from dmlp_cli.tracking.run_history import stage_logs
from dmlp_cli.tracking.run_report import write_run_report
from dmlp_cli.tracking.run_status import FAILED, failure_reason
from dmlp_cli.tracking.sweep_jobs import Job, is_sweep, read_jobs
from dmlp_cli.tracking.sweep_report import check_metric, ranking, status_counts, write_sweep_report

# What `dmlp train` leaves in a run folder from its first seconds on (FAILED.txt: a sweep job that failed early).
RUN_FILES = ("metrics.jsonl", "config.yaml", "checkpoints", "prior", FAILED)
DEFAULT_SORT = "valid/reconstruction_bleu"  # when no job's config.yaml names trainer.best_metric


def _default_sort(jobs: list[Job]) -> str:
    """The metric training itself picks best checkpoints by: trainer.best_metric of the first job's config."""
    for job in jobs:
        config = job.folder / "config.yaml"
        if config.is_file():
            return (yaml.safe_load(config.read_text()).get("trainer") or {}).get("best_metric") or DEFAULT_SORT
    return DEFAULT_SORT


def report_sweep(cfg: DictConfig, *, sweep_dir: Path, output: Path) -> list[Path]:
    jobs = read_jobs(sweep_dir)
    if not jobs:
        raise DmlpError(f"sweep '{sweep_dir}' has no job folders yet (none with .hydra/overrides.yaml); "
                        "report again once its first job has started")
    if cfg.sort is not None:
        check_metric(cfg.sort, jobs=jobs, setting="sort")
    if cfg.metric is not None:
        check_metric(cfg.metric, jobs=jobs, setting="metric")
    order = ranking(cfg.sort or _default_sort(jobs), mode=cfg.sort_mode)
    written = write_sweep_report(sweep_dir, jobs=jobs, order=order, plotted=cfg.metric or order.metric, output=output)
    console.print(f"sweep of {len(jobs)} jobs: {status_counts(jobs)}; sorted by {order.metric} "
                  f"({'max' if order.maximize else 'min'})", markup=False)
    return written


def report_run(cfg: DictConfig, *, run_dir: Path, output: Path) -> list[Path]:
    if not stage_logs(run_dir):
        failed = run_dir / FAILED
        why = f"it failed: {failure_reason(failed.read_text())}" if failed.is_file() else \
            "it has not logged a step yet (trainer.log_every)"
        raise DmlpError(f"run '{run_dir}' has no metrics.jsonl yet: {why}")
    samples = Path(cfg.samples) if cfg.samples is not None else None
    return write_run_report(run_dir, output=output, samples=samples, text_field=cfg.text_field,
                            gallery_size=cfg.gallery)


def report(cfg: DictConfig) -> list[Path]:
    if OmegaConf.is_missing(cfg, "path"):
        raise DmlpError("no folder given; dmlp report PATH, with PATH a run folder or a sweep folder")
    path = Path(cfg.path)
    if not path.exists():
        raise DmlpError(f"'{path}' does not exist; pass a run folder (outputs/train/<date>/<time>) or a sweep "
                        "folder (multirun/train/<date>/<time>)")
    output = Path(cfg.output) if cfg.output is not None else path / "report"
    if path.is_dir() and is_sweep(path):
        written = report_sweep(cfg, sweep_dir=path, output=output)
    elif path.is_dir() and any((path / name).exists() for name in RUN_FILES):
        written = report_run(cfg, run_dir=path, output=output)
    else:
        raise DmlpError(f"'{path}' is neither a run folder (metrics.jsonl, config.yaml, checkpoints/ from dmlp train) "
                        "nor a sweep folder (multirun.yaml from dmlp train -m); pass one of those")
    console.print(f"report: {written[0]}", markup=False)  # a path's [brackets] are no markup
    for extra in written[1:]:
        console.print(f"        {extra}", markup=False)
    return written
