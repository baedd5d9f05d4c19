"""The sweep extra's plugins are checked on the raw command line, and a job returns `optimized_metric` to Hydra."""

import math

import pytest
from omegaconf import OmegaConf

from dmlp_cli import cli, sweeps
from dmlp_cli.errors import DmlpError


@pytest.fixture
def nothing_installed(monkeypatch):
    monkeypatch.setattr(sweeps, "installed", lambda module: False)


def test_a_search_or_launcher_without_its_plugin_is_one_line_naming_the_extra(nothing_installed, capsys):
    for overrides, plugin in ((["-m", "hparams_search=optuna"], "hydra_optuna_sweeper"),
                              (["+hparams_search=optuna"], "hydra_optuna_sweeper"),
                              (["-m", "hydra/launcher=submitit_slurm"], "hydra_submitit_launcher")):
        assert cli.main(["train", *overrides]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and plugin in error and "pip install 'dmlp[sweep]'" in error
    assert sweeps.missing_plugin(["-m", "trainer.lr=1e-3,2e-3", "hparams_search=null", "hydra/launcher=basic"]) is None


def test_the_lookup_finds_what_is_installed_and_installed_plugins_pass(monkeypatch):
    assert sweeps.installed("json.decoder")
    assert not sweeps.installed("hydra_plugins.no_such_plugin") and not sweeps.installed("no_such_namespace.plugin")
    monkeypatch.setattr(sweeps, "installed", lambda module: True)
    assert sweeps.missing_plugin(["hparams_search=optuna", "hydra/launcher=submitit_local"]) is None


def test_a_job_returns_the_named_final_metric_or_nothing():
    final = {"train/wall_time_s": 12.0, "valid/reconstruction_bleu": 91.5, "valid/token_ppl": 3}
    assert sweeps.objective(OmegaConf.create({"optimized_metric": "valid/reconstruction_bleu"}), final) == 91.5
    assert sweeps.objective(OmegaConf.create({"optimized_metric": "valid/token_ppl"}), final) == 3.0
    assert sweeps.objective(OmegaConf.create({"optimized_metric": None}), final) is None
    assert sweeps.objective(OmegaConf.create({}), final) is None


def test_a_metric_the_run_lacks_lists_those_it_has_and_nan_is_an_error():
    with pytest.raises(sweeps.UnknownMetric, match=r"optimized_metric=valid/bleu is not among this run's final "
                                                   r"metrics \(train/wall_time_s, valid/token_ppl\)"):
        sweeps.objective(OmegaConf.create({"optimized_metric": "valid/bleu"}),
                         {"valid/token_ppl": 3.0, "train/wall_time_s": 1.0})
    with pytest.raises(DmlpError, match="is NaN"):
        sweeps.objective(OmegaConf.create({"optimized_metric": "valid/token_ppl"}), {"valid/token_ppl": math.nan})
