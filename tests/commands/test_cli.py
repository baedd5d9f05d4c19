"""The real `dmlp` command, end to end, with tiny settings: train → sample → score, sweeps, and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TINY_JOINT = [  # the embedded default, tiny; it still goes on to the prior stage (configs/prior/frozen_autoencoder.yaml)
    "logger=none", "trainer.max_steps=4", "trainer.log_every=2", "trainer.eval_every=4", "trainer.global_batch_size=8",
    "dataset.num_train=64", "dataset.num_valid=16", "dataset.num_test=16", "validation.num_generate=4",
    "validation.num_reconstruct=8", "schedule.num_timesteps=20", "model.latent_dim=8", "encoder.hidden_size=32",
    "encoder.intermediate_size=64", "decoder.hidden_size=32", "denoiser.hidden_dim=32", "denoiser.num_layers=3",
]
TINY_TRAIN = [*TINY_JOINT, "prior=none"]  # the joint phase alone: what most command tests exercise


def dmlp(*args: str, cwd: Path, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **env_overrides}
    env.pop("WANDB_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "dmlp_cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("cli")
    result = dmlp("train", *TINY_TRAIN, "hydra.run.dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "next: dmlp sample ckpt=" in result.stdout
    return work / "run"


def test_no_or_unknown_command_prints_usage_and_exits_2(tmp_path):
    for args in ([], ["trian"]):
        result = dmlp(*args, cwd=tmp_path)
        assert result.returncode == 2
        assert "usage: dmlp {train,sample,score,diagnose,report}" in result.stderr


def test_help_lists_groups_and_cfg_job_prints_config(tmp_path):
    help_text = dmlp("train", "--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "encoder: bert_scratch, bert_small" in help_text.stdout
    job = dmlp("train", "+experiment=yelp", "--cfg", "job", cwd=tmp_path)
    assert job.returncode == 0 and "name_or_path: gpt2-xl" in job.stdout


def test_train_writes_config_metrics_and_an_atomic_checkpoint(trained_run):
    assert (trained_run / "config.yaml").is_file()
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "train/loss" in r] == [2, 4]
    assert any("valid/reconstruction_bleu" in r for r in records)
    last = trained_run / "checkpoints" / "last"
    assert last.is_symlink() and (last / "model.safetensors").is_file() and (last / "meta.json").is_file()
    assert not [p for p in (trained_run / "checkpoints").iterdir() if p.name.startswith(".")]
    assert (trained_run / "tokenizers" / "decoder" / "tokenizer.json").is_file()


def test_sample_then_score(trained_run, tmp_path):
    samples = tmp_path / "samples.jsonl"
    result = dmlp("sample", f"ckpt={trained_run / 'checkpoints/last'}", "n=6", "batch_size=4", "steps=10",
                  "top_p=0.9", f"output={samples}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(lines) == 6 and {"text", "latent_norm", "num_tokens"} <= set(lines[0])
    meta = json.loads(samples.with_suffix(".meta.json").read_text())
    assert meta["steps"] == 10 and meta["top_p"] == 0.9

    references = tmp_path / "references.txt"
    references.write_text("the pasta was great .\ni loved the fries .\n")
    result = dmlp("score", f"samples={samples}", f"ckpt={trained_run / 'checkpoints/last'}",
                  f"references={references}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["num_samples"] == 6
    assert {"distinct_1", "distinct_2", "self_bleu", "grammar_valid_rate", "syntax_valid_rate", "reconstruction_bleu"} <= set(scores)


def test_score_probes_the_latents_of_labelled_references(trained_run, tmp_path):
    samples = tmp_path / "samples.txt"
    samples.write_text("the pasta was great .\nthe fries were cold .\n")
    sentences = ["the pasta was great .", "i loved the fries .", "the staff was rude .", "the food was cold ."] * 3
    references = tmp_path / "references.jsonl"
    references.write_text("".join(json.dumps({"text": text, "label": i % 2}) + "\n" for i, text in enumerate(sentences)))
    ckpt = f"ckpt={trained_run / 'checkpoints/last'}"
    result = dmlp("score", f"samples={samples}", ckpt, f"references={references}", "label_field=label", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert 0.0 <= scores["probe_accuracy"] <= 1.0 and "probe_accuracy" in scores["definition"]["metrics"]
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps({"text": "the pasta was great .", "label": "good"}) + "\n")
    _one_line_error(dmlp("score", f"samples={samples}", ckpt, f"references={unlabelled}", "label_field=label",
                         cwd=tmp_path), "needs an integer 'label'")
    _one_line_error(dmlp("score", f"samples={samples}", "label_field=label", cwd=tmp_path),
                    "label_field= probes the latents of ckpt= on references=")


def test_sampling_is_reproducible_with_a_seed(trained_run, tmp_path):
    texts = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        result = dmlp("sample", f"ckpt={trained_run / 'checkpoints/last'}", "n=4", "seed=3", "sampler=dpm_solver",
                      "steps=5", "decoding=sampling", "decoding.top_p=0.9", f"output={out}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        texts.append(out.read_text())
    assert texts[0] == texts[1]
    meta = json.loads((tmp_path / "a.meta.json").read_text())
    assert meta["steps"] == 5 and meta["denoise_seconds"] > 0 and meta["decode_seconds"] > 0


def test_reconstruct_and_interpolate_write_one_line_per_text_with_matching_endpoints(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints/last"
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the pasta was great .\n\ni loved the fries .\n")  # the empty line is skipped
    reconstructions = tmp_path / "reconstructions.jsonl"
    result = dmlp("sample", f"ckpt={ckpt}", "mode=reconstruct", f"inputs={inputs}", f"output={reconstructions}",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in reconstructions.read_text().splitlines()]
    assert [row["input"] for row in rows] == ["the pasta was great .", "i loved the fries ."]

    interpolation = tmp_path / "interpolation.jsonl"
    result = dmlp("sample", f"ckpt={ckpt}", "mode=interpolate", f"inputs={inputs}", "k=4", "path=slerp",
                  f"output={interpolation}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    points = [json.loads(line) for line in interpolation.read_text().splitlines()]
    assert [round(point["weight"], 3) for point in points] == [0.0, 0.333, 0.667, 1.0]
    assert [points[0]["text"], points[-1]["text"]] == [row["text"] for row in rows]


def test_multirun_puts_each_job_in_its_own_folder(tmp_path):
    result = dmlp("train", "-m", *TINY_TRAIN, "trainer.lr=1e-3,2e-3", "hydra.sweep.dir=sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for job in ("0", "1"):
        assert (tmp_path / "sweep" / job / "checkpoints" / "last" / "model.safetensors").is_file()
    lrs = [json.loads((tmp_path / "sweep" / job / "checkpoints/last/meta.json").read_text()) for job in ("0", "1")]
    assert len(lrs) == 2


def test_wandb_logger_runs_offline_without_credentials(tmp_path):
    overrides = [arg for arg in TINY_TRAIN if arg != "logger=none"]
    result = dmlp("train", *overrides, "logger=wandb", "hydra.run.dir=run", cwd=tmp_path, HOME=str(tmp_path))
    assert result.returncode == 0, result.stderr
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dmlp ")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_inputs_give_one_clear_line(tmp_path):
    unknown = dmlp("train", "encoder=bert_tiny", cwd=tmp_path)
    assert unknown.returncode != 0 and "Could not find 'encoder/bert_tiny'" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"sentence": f"line {i}"}) for i in range(20)) + "\n")
    _one_line_error(dmlp("train", *TINY_TRAIN[:1], "dataset=local", f"dataset.path={data}",
                         "dataset.split_ratio=[0.8,0.1,0.1]", cwd=tmp_path), "text", "sentence")

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.txt").write_text("\n  \n\n")
    (empty / "valid.txt").write_text("\n")
    _one_line_error(dmlp("train", *TINY_TRAIN[:1], "dataset=local", f"dataset.path={empty}", cwd=tmp_path), "empty")

    _one_line_error(dmlp("sample", f"ckpt={empty}", cwd=tmp_path), "not a complete dmlp checkpoint")
    _one_line_error(dmlp("score", f"samples={tmp_path / 'missing.jsonl'}", cwd=tmp_path), "does not exist")
