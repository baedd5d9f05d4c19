"""`dmlp diagnose` through the real command: the joint phase's and the prior stage's checkpoints, a checkpoint of
another corpus (denoising rows only), and the one-line errors."""

import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.commands.test_cli import _one_line_error, dmlp
from tests.commands.test_embedding_family import embedding_run  # noqa: F401 (a tiny Diffusion-LM checkpoint)
from tests.commands.test_prior_stage import two_stage_run  # noqa: F401 (a tiny joint run and its prior stage)

pytestmark = pytest.mark.slow

VALIDITY_ROWS = {"posterior_means", "posterior_samples", "prior_samples", "gaussian_fit"}


def _diagnose(ckpt: Path, tmp_path: Path, *overrides: str) -> tuple[dict, str]:
    output = tmp_path / "diagnosis.json"
    result = dmlp("diagnose", f"ckpt={ckpt}", "n=6", "batch_size=4", *overrides, f"output={output}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(output.read_text()), result.stdout


def _check_denoising_rows(report: dict) -> None:
    rows = report["denoising_squared_error"]
    assert rows and all(name.startswith("t=") for name in rows)
    for row in rows.values():
        assert 0 < row["alpha_bar"] < 1 and row["learned"] >= 0 and row["wiener"] >= 0


@pytest.mark.parametrize("ckpt", ["checkpoints/last", "prior/checkpoints/last"])
def test_diagnose_reports_the_validity_of_four_kinds_of_latents_and_the_denoising_errors(two_stage_run, tmp_path, ckpt):
    report, printed = _diagnose(two_stage_run / ckpt, tmp_path, "sampler=ddim", "steps=5")
    assert set(report["valid_rates"]) == VALIDITY_ROWS
    for row in report["valid_rates"].values():
        assert set(row) == {"grammar_valid_rate", "syntax_valid_rate"}
        assert all(0 <= rate <= 1 for rate in row.values())
    assert report["sampler"].endswith("DDIMSampler") and report["steps"] == 5 and report["num_held_out"] == 6
    _check_denoising_rows(report)
    assert "decoded sentences" in printed and "Wiener" in printed and "DDIMSampler, 5 steps" in printed


def test_a_checkpoint_of_another_corpus_gets_the_denoising_rows_only(two_stage_run, tmp_path):
    data = tmp_path / "corpus"
    data.mkdir()
    for split in ("train", "valid", "test"):
        (data / f"{split}.txt").write_text("the pasta was great .\nthe staff were friendly .\ni loved it .\n")
    ckpt = tmp_path / "local"
    shutil.copytree(two_stage_run / "checkpoints" / "last", ckpt)
    config = OmegaConf.load(ckpt / "config.yaml")  # the same weights, as if trained on these files
    config.dataset = {"_target_": "dmlp_cli.data.corpora.LocalCorpus", "path": str(data)}
    OmegaConf.save(config, ckpt / "config.yaml")
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["files"]["config.yaml"] = (ckpt / "config.yaml").stat().st_size
    (ckpt / "meta.json").write_text(json.dumps(meta))
    report, printed = _diagnose(ckpt, tmp_path)
    assert report["valid_rates"] is None and report["num_held_out"] == 3
    _check_denoising_rows(report)
    assert "validity rows need the toy corpus" in printed and "decoded sentences" not in printed


def test_diagnose_errors_are_one_line(embedding_run, tmp_path):
    _one_line_error(dmlp("diagnose", f"ckpt={embedding_run / 'checkpoints' / 'last'}", cwd=tmp_path),
                    "embedding-family (Diffusion-LM)", "no latent prior", "dmlp score")
    _one_line_error(dmlp("diagnose", f"ckpt={tmp_path / 'missing'}", cwd=tmp_path), "does not exist")
    (tmp_path / "empty").mkdir()
    _one_line_error(dmlp("diagnose", f"ckpt={tmp_path / 'empty'}", cwd=tmp_path), "not a complete dmlp checkpoint")
    _one_line_error(dmlp("diagnose", f"ckpt={embedding_run / 'checkpoints' / 'last'}", "n=0", cwd=tmp_path),
                    "n and batch_size must be >= 1")


def test_help_lists_the_sampler_groups(tmp_path):
    result = dmlp("diagnose", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage: dmlp diagnose ckpt=" in result.stdout
    assert "sampler: ddim, ddpm, dpm_solver" in result.stdout and "sampler/clamp: " in result.stdout
