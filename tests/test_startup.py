"""`dmlp <command> --help` and `--cfg job` answer without importing the heavy libraries (issue 12).

A behavioural check, not a timing one: torch & co. take seconds to import, so the commands that only
compose configs must not import them at all. `python -X importtime` lists every module a process imports.
"""

import os
import subprocess
import sys

import pytest

HEAVY = {"torch", "transformers", "diffusers", "datasets", "wandb"}


@pytest.mark.parametrize("arguments, printed", [
    (["train", "--help"], "usage: dmlp train"),
    (["sample", "--help"], "usage: dmlp sample"),
    (["score", "--help"], "usage: dmlp score"),
    (["diagnose", "--help"], "usage: dmlp diagnose"),
    (["report", "--help"], "usage: dmlp report PATH"),
    (["train", "--cfg", "job"], "trainer:"),
    (["train", "+experiment=yelp", "--cfg", "job"], "name_or_path: gpt2-xl"),
])
def test_commands_that_only_compose_configs_import_no_heavy_library(arguments, printed, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dmlp_cli", *arguments], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert printed in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "hydra" in imported and not imported & HEAVY, sorted(imported & HEAVY)
