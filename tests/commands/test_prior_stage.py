"""The latent family's prior stage through the real `dmlp train`: after the joint phase of one run, on a given
checkpoint, resumed, and its one-line errors; `dmlp sample` uses its checkpoints unchanged."""

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.commands.test_cli import TINY_JOINT, _one_line_error, dmlp

pytestmark = pytest.mark.slow

TINY_PRIOR = [  # the default's prior stage (no prior= needed), tiny
    "prior.denoiser.hidden_dim=16", "prior.denoiser.num_layers=2",
    "prior.denoiser.self_conditioning=true", "prior.schedule.num_timesteps=20", "prior.trainer.max_steps=6",
    "prior.trainer.global_batch_size=16", "prior.trainer.log_every=3", "prior.trainer.eval_every=6",
    "prior.trainer.save_every=3", "+prior.model.loss_weighting=min_snr", "prior.sampling.steps=5",
]


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("prior")
    result = dmlp("train", *TINY_JOINT, *TINY_PRIOR, "hydra.run.dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    assert f"next: dmlp sample ckpt={work / 'run' / 'prior' / 'checkpoints' / 'last'}" in result.stdout
    return work / "run"


def test_the_prior_stage_follows_the_joint_phase_and_trains_only_a_new_denoiser(two_stage_run):
    joint, prior = two_stage_run / "checkpoints" / "last", two_stage_run / "prior" / "checkpoints" / "last"
    meta = json.loads((prior / "meta.json").read_text())
    assert meta["stage"] == "prior" and meta["step"] == 6
    config = (prior / "config.yaml").read_text()
    assert "CosineSchedule" in config and "hidden_dim: 16" in config and "loss_weighting: min_snr" in config
    before, after = load_file(str(joint / "model.safetensors")), load_file(str(prior / "model.safetensors"))
    for name in before:
        if name.startswith(("encoder.", "connector.", "decoder.")):
            assert (before[name] == after[name]).all(), name  # the autoencoder is frozen
    assert after["denoiser.out.weight"].shape[1] == 16 + 2 * 8  # the prior's denoiser, self-conditioned
    assert not (after["normalization.scale"] == 1).all()  # fitted to the cached latents
    logged = [json.loads(line) for line in (two_stage_run / "prior" / "metrics.jsonl").read_text().splitlines()]
    assert "train/diffusion" in logged[0] and "train/reconstruction" not in logged[0]
    assert {"valid/diffusion", "valid/grammar_valid_rate"} <= set(logged[-1])


def test_sample_uses_a_prior_stage_checkpoint_unchanged(two_stage_run, tmp_path):
    ckpt = two_stage_run / "prior" / "checkpoints" / "last"
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the cat sleeps\nthe dog runs\n")
    for mode, expected in (("generate", 4), ("reconstruct", 2)):
        result = dmlp("sample", f"ckpt={ckpt}", "n=4", "steps=5", f"mode={mode}", f"inputs={inputs}",
                      f"output={tmp_path / mode}.jsonl", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert len((tmp_path / f"{mode}.jsonl").read_text().splitlines()) == expected


def test_sample_takes_the_recipe_sampler_of_a_prior_stage_checkpoint_unless_one_is_named(two_stage_run, tmp_path):
    ckpt = two_stage_run / "prior" / "checkpoints" / "last"
    result = dmlp("sample", f"ckpt={ckpt}", "n=4", f"output={tmp_path / 'recipe'}.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "the checkpoint's recipe samples with sampler=ddim steps=5 top_p=1.5" in result.stdout
    meta = json.loads((tmp_path / "recipe.meta.json").read_text())
    assert (meta["sampler"], meta["steps"], meta["top_p"]) == ("dmlp_cli.diffusion.samplers.DDIMSampler", 5, 1.5)
    chosen = dmlp("sample", f"ckpt={ckpt}", "n=4", "sampler=ddpm", f"output={tmp_path / 'own'}.jsonl", cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    meta = json.loads((tmp_path / "own.meta.json").read_text())
    assert (meta["sampler"], meta["steps"], meta["top_p"]) == ("dmlp_cli.diffusion.samplers.AncestralSampler", 20, None)


def test_resume_auto_goes_on_with_the_prior_stage_without_the_joint_phase(two_stage_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(two_stage_run, run, symlinks=True)
    result = dmlp("train", *TINY_JOINT, *TINY_PRIOR, "prior.trainer.max_steps=8", "trainer.resume=auto",
                  "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trained steps 7-8" in result.stdout and "trained steps 1-4" not in result.stdout
    assert json.loads((run / "prior" / "checkpoints" / "last" / "meta.json").read_text())["step"] == 8


def test_prior_init_trains_the_prior_of_a_given_checkpoint(two_stage_run, tmp_path):
    result = dmlp("train", *TINY_JOINT, *TINY_PRIOR, f"prior.init={two_stage_run / 'checkpoints' / 'last'}",
                  "hydra.run.dir=alone", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "trained steps 1-4" not in result.stdout  # no joint phase
    assert json.loads((tmp_path / "alone" / "checkpoints" / "last" / "meta.json").read_text())["stage"] == "prior"


@pytest.mark.parametrize("override, message", [
    ("prior.init=does/not/exist", "prior.init 'does/not/exist' does not exist"),
    ("+prior.model.latent_dim=4", "prior.model.latent_dim cannot change in the prior stage"),
    ("prior.normalization=batch", "latent normalization 'batch' is not one of"),
])
def test_bad_prior_settings_are_one_line_errors(two_stage_run, tmp_path, override, message):
    init = [] if override.startswith("prior.init") else [f"prior.init={two_stage_run / 'checkpoints' / 'last'}"]
    result = dmlp("train", *TINY_JOINT, *TINY_PRIOR, *init, override, "hydra.run.dir=bad", cwd=tmp_path)
    _one_line_error(result, message)


def test_prior_none_drops_a_recipes_prior_settings_and_trains_the_joint_phase_alone(tmp_path):
    result = dmlp("train", *TINY_JOINT, "+experiment=toy_prior", "prior=none", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "prior=none: no prior stage; the recipe's prior.trainer, prior.sampling settings are not used" in result.stdout
    assert not (tmp_path / "run" / "prior").exists()
    assert "\nprior: null\n" in (tmp_path / "run" / "checkpoints" / "last" / "config.yaml").read_text()
    init = dmlp("train", *TINY_JOINT, "prior=none", "+prior.init=some/checkpoint", "hydra.run.dir=bad", cwd=tmp_path)
    _one_line_error(init, "prior.init=some/checkpoint trains the prior of that checkpoint", "drop prior=none")


def test_resume_auto_after_a_finished_joint_phase_starts_the_prior_stage(two_stage_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(two_stage_run, run, symlinks=True)
    shutil.rmtree(run / "prior")  # stopped after the joint phase, before the prior stage saved anything
    result = dmlp("train", *TINY_JOINT, *TINY_PRIOR, "trainer.resume=auto", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "joint phase: finished at" in result.stdout and "trained steps 1-6" in result.stdout
    assert json.loads((run / "prior" / "checkpoints" / "last" / "meta.json").read_text())["stage"] == "prior"
