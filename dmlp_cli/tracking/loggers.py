"""Experiment trackers chosen by the `logger` config group: wandb, or none."""

import hashlib
import os
from pathlib import Path


class NullLogger:
    """`logger=none`: metrics still go to metrics.jsonl and the console, nowhere else."""

    def start(self, *, run_dir: Path, config: dict, name: str, sweep: str | None = None, resume: bool = False) -> None:
        pass

    def log(self, metrics: dict, *, step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger(NullLogger):
    """Weights & Biases; `mode=auto` runs online with credentials and offline (synced later with
    `wandb sync`) without, so a run never blocks on a login prompt."""

    def __init__(self, *, project: str = "dmlp", entity: str | None = None, mode: str = "auto",
                 group: str | None = None, tags: list[str] = ()):
        self.project, self.entity, self.mode, self.group, self.tags = project, entity, mode, group, list(tags)
        self.run = None

    def resolved_mode(self) -> str:
        if self.mode != "auto":
            return self.mode
        netrc = Path.home() / ".netrc"
        logged_in = netrc.is_file() and "api.wandb.ai" in netrc.read_text()
        return "online" if os.environ.get("WANDB_API_KEY") or logged_in else "offline"

    def start(self, *, run_dir: Path, config: dict, name: str, sweep: str | None = None, resume: bool = False) -> None:
        """One wandb run per run folder (a resumed run continues it); the jobs of a sweep share its group."""
        import wandb

        run_id = hashlib.sha1(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]
        self.run = wandb.init(
            project=self.project, entity=self.entity, mode=self.resolved_mode(), group=self.group or sweep,
            tags=self.tags, name=name, dir=str(run_dir), config=config, id=run_id, resume="allow" if resume else None,
        )

    def log(self, metrics: dict, *, step: int) -> None:
        self.run.log(metrics, step=step)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
