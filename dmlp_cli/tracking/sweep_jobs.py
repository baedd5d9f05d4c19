"""A `-m` sweep's folder (what Hydra's launcher writes: multirun.yaml, one folder per job with
.hydra/overrides.yaml) read as jobs: overrides, status and curves, failed and unfinished jobs included."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from dmlp_cli.tracking.run_history import Curve, run_curves
from dmlp_cli.tracking.run_status import Status, read_status


@dataclass(frozen=True)
class Job:
    name: str  # the job's folder name (Hydra's job number)
    folder: Path
    overrides: list[str]  # key=value, as given on the command line
    status: Status
    curves: dict[str, Curve]

    @property
    def settings(self) -> dict[str, str]:
        """key -> value of the overrides (a `~key` deletion has the value '')."""
        return {key: value for key, _, value in (item.partition("=") for item in self.overrides)}


def is_sweep(path: Path) -> bool:
    return (Path(path) / "multirun.yaml").is_file()


def read_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides Hydra recorded for a run or job (none when it kept no .hydra/)."""
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    return [str(item) for item in yaml.safe_load(path.read_text()) or []] if path.is_file() else []


def read_jobs(sweep_dir: Path, *, now: float | None = None) -> list[Job]:
    """Every job that has started (Hydra makes a job's folder when it launches it), in job order."""
    folders = [child for child in Path(sweep_dir).iterdir() if (child / ".hydra" / "overrides.yaml").is_file()]
    folders.sort(key=lambda folder: (not folder.name.isdigit(), int(folder.name) if folder.name.isdigit() else 0,
                                     folder.name))
    return [Job(name=folder.name, folder=folder, overrides=read_overrides(folder), status=read_status(folder, now=now),
                curves=run_curves(folder)) for folder in folders]


def swept_keys(jobs: list[Job]) -> list[str]:
    """The override keys whose value is not the same in every job: what the sweep varies."""
    keys = list(dict.fromkeys(key for job in jobs for key in job.settings))
    return [key for key in keys if len({job.settings.get(key) for job in jobs}) > 1]


def common_overrides(jobs: list[Job]) -> list[str]:
    """The overrides every job shares: the sweep's fixed settings."""
    varying = set(swept_keys(jobs))
    return [item for item in jobs[0].overrides if item.partition("=")[0] not in varying] if jobs else []
