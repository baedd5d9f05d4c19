"""Hydra sweepers and launchers from the optional extra `dmlp[sweep]`, and the value a job returns to them.

`missing_plugin` reads the raw command line before Hydra composes anything: a missing plugin is then one line
naming the extra instead of Hydra's search-path report, at the cost of a module lookup (no import, no torch).
`objective` is what an optimising sweeper (hparams_search=optuna) reads from each job: the float named by
`optimized_metric`. Optuna accepts a float or a raised error and refuses NaN, so a NaN is raised as an error.
"""

import importlib.util
import math

from dmlp_cli.errors import DmlpError

EXTRA = "pip install 'dmlp[sweep]'"
# (group, option) on the command line -> the plugin package that provides it
PLUGINS = {
    ("hparams_search", "optuna"): "hydra_plugins.hydra_optuna_sweeper",
    ("hydra/sweeper", "optuna"): "hydra_plugins.hydra_optuna_sweeper",
    ("hydra/launcher", "submitit_local"): "hydra_plugins.hydra_submitit_launcher",
    ("hydra/launcher", "submitit_slurm"): "hydra_plugins.hydra_submitit_launcher",
}


class UnknownMetric(DmlpError):
    """`optimized_metric` names a metric the run does not report: every trial would end the same way."""


def installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (plugins import optuna, submitit)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # not even the hydra_plugins namespace exists
        return False


def missing_plugin(overrides: list[str]) -> str | None:
    """The one-line error for the first override whose plugin is not installed; None when every one is."""
    for override in overrides:
        group, _, option = override.lstrip("+").partition("=")
        module = PLUGINS.get((group, option))
        if module is not None and not installed(module):
            return (f"{group}={option} needs the Hydra plugin {module.split('.')[-1]}, which is not installed; "
                    f"install the sweep extra: {EXTRA}")
    return None


def objective(cfg, final: dict) -> float | None:
    """The final evaluation's value of `cfg.optimized_metric` for the sweeper; None when no metric is named."""
    name = cfg.get("optimized_metric")
    if name is None:
        return None
    if name not in final:
        raise UnknownMetric(f"optimized_metric={name} is not among this run's final metrics "
                            f"({', '.join(sorted(final))}); set optimized_metric to one of them")
    value = float(final[name])
    if math.isnan(value):
        raise DmlpError(f"optimized_metric {name} is NaN in the final evaluation")
    return value
