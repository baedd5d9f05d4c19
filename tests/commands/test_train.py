"""`dmlp train` that scales and survives, through the real CLI: torchrun DDP, SIGTERM, resume, damaged
checkpoints, sweeps with a failing job."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.commands.test_cli import TINY_TRAIN, dmlp

pytestmark = pytest.mark.slow

LONG = [*TINY_TRAIN, "trainer.max_steps=600", "trainer.log_every=5", "trainer.eval_every=100000",
        "validation.num_generate=0", "trainer.save_every=0"]


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "model.safetensors"))


def _assert_same(a: dict, b: dict, **tolerance) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        torch.testing.assert_close(value, b[name], msg=name, **tolerance)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("uninterrupted")
    result = dmlp("train", *LONG, "hydra.run.dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "run"


def test_sigterm_saves_and_resume_auto_ends_with_the_uninterrupted_weights(uninterrupted, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "dmlp_cli", "train", *LONG, "hydra.run.dir=run"], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.is_file() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "stopped by SIGTERM at step" in stderr and "trainer.resume=auto" in stderr
    meta = json.loads((tmp_path / "run" / "checkpoints" / "last" / "meta.json").read_text())
    assert 5 <= meta["step"] < 600  # stopped mid-run, at a step boundary, with a complete checkpoint

    resumed = dmlp("train", *LONG, "hydra.run.dir=run", "trainer.resume=auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"trained steps {meta['step'] + 1}-600" in resumed.stdout
    _assert_same(_weights(tmp_path / "run" / "checkpoints" / "last"), _weights(uninterrupted / "checkpoints" / "last"),
                 atol=0, rtol=0)

    # a damaged newest checkpoint: refused with a clear line, and resume=auto falls back to the previous good one
    final = (tmp_path / "run" / "checkpoints" / "last").resolve()
    weights = final / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    sample = dmlp("sample", f"ckpt={final}", "n=2", cwd=tmp_path)
    assert sample.returncode == 2 and "damaged: model.safetensors is 1000 bytes" in sample.stderr
    assert "Traceback" not in sample.stderr
    again = dmlp("train", *LONG, "hydra.run.dir=run", "trainer.resume=auto", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "skipping last" in again.stdout and f"trained steps {meta['step'] + 1}-600" in again.stdout


def test_kill_9_loses_only_the_steps_since_the_last_checkpoint(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "dmlp_cli", "train", *LONG, "trainer.save_every=20",
                                "hydra.run.dir=run"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    last = tmp_path / "run" / "checkpoints" / "last"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=60)
    resumed = dmlp("train", *LONG, "trainer.save_every=20", "hydra.run.dir=run", "trainer.resume=auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    saved = json.loads((tmp_path / "run" / "checkpoints" / "step-20" / "meta.json").read_text())["step"] \
        if (tmp_path / "run" / "checkpoints" / "step-20").exists() else None
    started = int(resumed.stdout.split("trained steps ")[1].split("-")[0]) - 1
    assert started % 20 == 0 and started >= 20 and saved in (None, 20)  # from a complete checkpoint, none lost to it


def test_resume_with_another_config_is_refused(uninterrupted, tmp_path):
    result = dmlp("train", *LONG, "model.latent_dim=16", f"trainer.resume={uninterrupted / 'checkpoints' / 'last'}",
                  "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 2
    assert "was trained with another config (" in result.stderr and "model.latent_dim: 8 → 16" in result.stderr


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "dmlp_cli",
         "train", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
    )


def test_two_process_ddp_and_fsdp_on_gloo_equal_one_process_and_only_rank_0_writes(tmp_path):
    steps = [*LONG, "trainer.max_steps=20", "trainer.device=cpu"]
    single = dmlp("train", *steps, "hydra.run.dir=single", cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    reference = _weights(tmp_path / "single" / "checkpoints" / "last")

    ddp = _torchrun(*steps, cwd=tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    runs = list((tmp_path / "outputs" / "train").glob("*/*"))
    assert len(runs) == 1, runs  # both ranks used rank 0's timestamp
    run = runs[0]
    assert "2 processes" in ddp.stdout
    assert ddp.stdout.count("run folder:") == 1  # rank 0 alone reports, logs and saves
    _assert_same(_weights(run / "checkpoints" / "last"), reference, atol=1e-5, rtol=1e-4)
    state = torch.load(run / "checkpoints" / "last" / "trainer_state.pt", weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["step"] == 20
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in (tmp_path / "single").iterdir())

    fsdp = [*steps, "trainer.strategy=fsdp", "trainer.save_every=10", "hydra.run.dir=fsdp"]
    sharded = _torchrun(*fsdp, cwd=tmp_path)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    checkpoints = tmp_path / "fsdp" / "checkpoints"
    _assert_same(_weights(checkpoints / "last"), reference, atol=1e-5, rtol=1e-4)
    # resume a sharded run from step 10: the gathered optimizer state goes back into the shards
    shutil.rmtree(checkpoints / "step-20")
    (checkpoints / "last").unlink()
    resumed = _torchrun(*fsdp, "trainer.resume=auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "trained steps 11-20" in resumed.stdout
    _assert_same(_weights(checkpoints / "last"), reference, atol=1e-5, rtol=1e-4)


def test_a_failing_job_does_not_stop_the_sweep(tmp_path):
    result = dmlp("train", "-m", *TINY_TRAIN, "trainer.precision=fp8,fp32", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 1
    assert "job 0 failed: trainer.precision 'fp8'" in result.stderr
    assert "1 job(s) of the sweep failed" in result.stderr
    assert "trainer.precision 'fp8'" in (tmp_path / "sweep" / "0" / "FAILED.txt").read_text()
    assert (tmp_path / "sweep" / "1" / "checkpoints" / "last" / "model.safetensors").is_file()
    assert not (tmp_path / "sweep" / "1" / "FAILED.txt").exists()
