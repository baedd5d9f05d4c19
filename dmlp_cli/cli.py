"""`dmlp` entry point: `dmlp train|sample|score|diagnose|report [overrides]`, each a Hydra app with its own primary
config."""

import importlib
import os
import re
import sys
from pathlib import Path

from dmlp_cli.errors import DmlpError
from dmlp_cli.sweeps import UnknownMetric, missing_plugin, objective

USAGE = """usage: dmlp {train,sample,score,diagnose,report} [key=value ...] [-m] [--help] [--cfg job]

  dmlp train                                    train the embedded default (offline, CPU, minutes)
  dmlp train +experiment=yelp                   a paper recipe; `dmlp train --help` lists every group and key
  dmlp train -m trainer.lr=1e-3,3e-4            a sweep: one run folder per value
  dmlp train -m hparams_search=optuna           an Optuna search (pip install 'dmlp[sweep]')
  dmlp sample ckpt=RUN/checkpoints/last n=500   write samples.jsonl
  dmlp score samples=PATH/samples.jsonl         print and write the metrics (scores.json)
  dmlp diagnose ckpt=RUN/checkpoints/last       latent prior or decoder? validity and denoising tables (diagnosis.json)
  dmlp report RUN | SWEEP                       curves as PNGs, summary and samples; a sweep's jobs table (PATH/report/)
"""

COMMANDS = {
    "train": "dmlp_cli.commands.train:train",
    "sample": "dmlp_cli.commands.sample:sample",
    "score": "dmlp_cli.commands.score:score",
    "diagnose": "dmlp_cli.commands.diagnose:diagnose",
    "report": "dmlp_cli.commands.report:report",
}
# The key a bare argument sets: `dmlp report RUN` is `dmlp report path=RUN`.
POSITIONAL = {"report": "path"}
# Commands that read no corpus, so they skip the datasets library's import (seconds).
WITHOUT_DATA = {"report"}
# Hydra's options that take the next argument as their value (never a positional argument).
VALUE_OPTIONS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn", "--config-dir",
                 "-cd", "--experimental-rerun"}


def config_dir() -> Path:
    """configs/ beside the package in a source checkout, dmlp_cli/configs inside an installed wheel."""
    packaged = Path(__file__).resolve().parent / "configs"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "configs"


def _user_error(error: BaseException):
    """The DmlpError behind an exception, if any (Hydra's instantiate wraps what constructors raise)."""
    while error is not None:
        if isinstance(error, DmlpError):
            return error
        error = error.__cause__ or error.__context__
    return None


def _record_failure(command: str, error: BaseException) -> None:
    """A failed job of a `-m` sweep: FAILED.txt with the traceback in its folder, one line on stderr; the sweep goes on."""
    import traceback

    from hydra.core.hydra_config import HydraConfig

    from dmlp_cli.data.jsonl import write_atomically
    from dmlp_cli.tracking.run_status import FAILED

    job_dir = Path(HydraConfig.get().runtime.output_dir)
    write_atomically(job_dir / FAILED, "".join(traceback.format_exception(error)))  # `dmlp report` reads it
    FAILED_JOBS.append(job_dir)
    user_error = _user_error(error)
    print(f"dmlp {command}: job {HydraConfig.get().job.num} failed: {user_error or repr(error)} "
          f"(details: {job_dir / FAILED})", file=sys.stderr)


FAILED_JOBS: list[Path] = []


def run(command: str, overrides: list[str]) -> int:
    """Run one subcommand as a Hydra app; user errors print one line and exit 2; a sweep records failed jobs
    and carries on; a run stopped by SIGTERM/SIGINT exits 128 + the signal number after saving."""
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from dmlp_cli.config_schema import register_schemas
    from dmlp_cli.recipe_sampling import recipe_sampling
    from dmlp_cli.training import distributed
    from dmlp_cli.training.preemption import Preempted

    register_schemas()
    recipe = recipe_sampling(command, overrides)
    if recipe:
        print(f"dmlp {command}: the checkpoint's recipe samples with {' '.join(recipe)} "
              "(name sampler=, steps= or top_p= to choose your own)")
        overrides = [*recipe, *overrides]
    # torchrun: every rank runs this app; they share rank 0's clock, so they share one run folder
    context = distributed.init_from_env()
    os.environ["DMLP_RUN_STAMP"] = distributed.shared_timestamp(context)
    if not context.is_main:  # Hydra's own files (.hydra/, the job log) come from rank 0 alone
        overrides = [*overrides, "hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]

    def guarded(cfg) -> float | None:
        """Runs the command; returns `optimized_metric`'s final value to an optimising sweeper (sweeps.py)."""
        # imported here, once Hydra has parsed the command line: `--help` and `--cfg job` never load torch & co.
        if command not in WITHOUT_DATA:
            import datasets

            datasets.disable_progress_bars()  # per-split map bars; the encoding report says what happened in one line
        module, function = COMMANDS[command].split(":")
        task = getattr(importlib.import_module(module), function)
        try:
            return objective(cfg, task(cfg))
        except Preempted as stopped:
            print(f"dmlp {command}: {stopped}; continue with the same command and trainer.resume=auto "
                  "(and the same hydra.run.dir)", file=sys.stderr)
            sys.exit(stopped.exit_code)
        except UnknownMetric as error:  # a config mistake that every trial would repeat: the sweep stops here
            print(f"dmlp {command}: error: {error}", file=sys.stderr)
            sys.exit(2)
        except Exception as error:
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                _record_failure(command, error)
                if cfg.get("optimized_metric") is not None:
                    raise  # Optuna records it as the trial's failure and goes on (max_failure_rate: 1.0)
                return None  # the basic sweeper stops at a raised error
            user_error = _user_error(error)
            if user_error is None:
                raise
            print(f"dmlp {command}: error: {user_error}", file=sys.stderr)
            sys.exit(2)

    app = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=command)(guarded)
    sys.argv = [f"dmlp-{command}", *overrides]
    try:
        app()
    finally:
        distributed.shutdown()
    if FAILED_JOBS:
        print(f"dmlp {command}: {len(FAILED_JOBS)} job(s) of the sweep failed: "
              + ", ".join(str(path) for path in FAILED_JOBS), file=sys.stderr)
        return 1
    return 0


def with_positional(command: str, arguments: list[str]) -> list[str]:
    """A bare argument (no `=`, not an option or its value) becomes `key='value'` for commands that take one;
    quoted, so a path with spaces, commas or brackets stays one value."""
    key = POSITIONAL.get(command)
    if key is None:
        return arguments
    converted, bare = [], []
    for index, argument in enumerate(arguments):
        option_value = index > 0 and arguments[index - 1] in VALUE_OPTIONS
        if "=" not in argument and not argument.startswith("-") and not option_value:
            bare.append(argument)
            # Hydra unescapes backslashes only before a quote (or the closing one): escape exactly those
            argument = f"{key}='" + re.sub(r"(\\*)('|$)", lambda m: m[1] * 2 + ("\\'" if m[2] else ""), argument) + "'"
        converted.append(argument)
    if len(bare) > 1:
        raise DmlpError(f"one {key.upper()} at most, got {len(bare)} ({', '.join(bare)}); a sweep over several: "
                        f"-m {key}=A,B")
    return converted


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        problem = f"unknown command '{argv[0]}'" if argv else "no command given"
        print(f"dmlp: {problem}\n\n{USAGE}", file=sys.stderr)
        return 2
    try:
        overrides = with_positional(argv[0], argv[1:])
    except DmlpError as error:
        print(f"dmlp {argv[0]}: error: {error}", file=sys.stderr)
        return 2
    plugin_problem = missing_plugin(overrides)
    if plugin_problem is not None:
        print(f"dmlp {argv[0]}: error: {plugin_problem}", file=sys.stderr)
        return 2
    return run(argv[0], overrides)


if __name__ == "__main__":
    sys.exit(main())
