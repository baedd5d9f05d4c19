import sys
import types

from dmlp_cli.tracking.loggers import WandbLogger


def test_wandb_groups_a_sweep_and_resumes_the_run_of_its_folder(tmp_path, monkeypatch):
    calls = []
    fake = types.SimpleNamespace(init=lambda **kwargs: calls.append(kwargs) or types.SimpleNamespace(finish=lambda: None))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    logger = WandbLogger(mode="offline")
    logger.start(run_dir=tmp_path / "sweep" / "0", config={}, name="sweep-0", sweep=str(tmp_path / "sweep"))
    logger.start(run_dir=tmp_path / "sweep" / "0", config={}, name="sweep-0", sweep=str(tmp_path / "sweep"), resume=True)
    WandbLogger(mode="offline", group="mine").start(run_dir=tmp_path / "other", config={}, name="x", sweep="s")
    assert calls[0]["group"] == str(tmp_path / "sweep") and calls[0]["resume"] is None
    assert calls[1]["id"] == calls[0]["id"] and calls[1]["resume"] == "allow"  # one wandb run per run folder
    assert calls[2]["group"] == "mine" and calls[2]["id"] != calls[0]["id"]  # an explicit group wins
