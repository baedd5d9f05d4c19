"""Configs ship inside the wheel: an installed (non-editable) dmlp composes its configs from any directory."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_built_wheel_carries_the_configs(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(wheels.glob("dmlp-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    location = subprocess.run([sys.executable, "-c", "import dmlp_cli; print(dmlp_cli.__file__)"], cwd=elsewhere,
                              env=env, capture_output=True, text=True, check=True).stdout
    assert location.startswith(str(site)), "the test must run the installed wheel, not the source checkout"
    assert (site / "dmlp_cli" / "configs" / "train.yaml").is_file()
    job = subprocess.run([sys.executable, "-m", "dmlp_cli", "train", "--cfg", "job"], cwd=elsewhere, env=env,
                         capture_output=True, text=True)
    assert job.returncode == 0, job.stderr
    assert "_target_: dmlp_cli.models.joint.JointLatentDiffusion" in job.stdout
