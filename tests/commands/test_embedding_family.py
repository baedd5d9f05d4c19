"""The Diffusion-LM (embedding) family through the real `dmlp` command: train, every sample mode, the AR scorer,
score, and the one-line errors of the family's bad inputs."""

import json
from pathlib import Path

import pytest

from tests.commands.test_cli import TINY_JOINT, TINY_TRAIN, _one_line_error, dmlp

pytestmark = pytest.mark.slow

TINY_EMBEDDING = [
    "+experiment=diffusion_lm", "logger=none", "trainer.max_steps=6", "trainer.log_every=3", "trainer.eval_every=6",
    "trainer.global_batch_size=8", "dataset.num_train=64", "dataset.num_valid=16", "dataset.num_test=16",
    "validation.num_generate=4", "validation.num_reconstruct=8", "schedule.num_timesteps=20", "encoder.embedding_dim=8",
    "denoiser.hidden_size=32", "denoiser.num_layers=1", "denoiser.intermediate_size=64",
    "denoiser.self_conditioning=true",
]


@pytest.fixture(scope="module")
def embedding_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("embedding")
    result = dmlp("train", *TINY_EMBEDDING, "hydra.run.dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "next: dmlp sample ckpt=" in result.stdout
    return work / "run"


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_training_logs_the_familys_loss_parts(embedding_run):
    logged = [json.loads(line) for line in (embedding_run / "metrics.jsonl").read_text().splitlines()]
    assert {"train/mse", "train/prior", "train/rounding", "train/rounding_accuracy", "train/grad_norm"} <= set(logged[0])
    assert {"valid/mse", "valid/reconstruction_bleu", "valid/grammar_valid_rate"} <= set(logged[-1])
    config = (embedding_run / "checkpoints" / "last" / "config.yaml").read_text()
    assert "EmbeddingDiffusion" in config and "SqrtSchedule" in config


@pytest.mark.parametrize("sampler", [["sampler=ddpm", "steps=10", "top_p=0.9"], ["sampler=ddim", "steps=5"],
                                     ["sampler=dpm_solver", "steps=4"]])
def test_generate_with_every_sampler_and_clamping(embedding_run, tmp_path, sampler):
    samples = tmp_path / "samples.jsonl"
    result = dmlp("sample", f"ckpt={embedding_run / 'checkpoints/last'}", "n=4", *sampler,
                  "sampler/clamp=nearest_embedding", f"output={samples}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(_records(samples)) == 4
    meta = json.loads(samples.with_suffix(".meta.json").read_text())
    assert meta["family"] == "embedding" and meta["clamp"].endswith("NearestEmbedding")


def test_generate_with_mbr_then_score_against_references(embedding_run, tmp_path):
    samples = tmp_path / "samples.jsonl"
    result = dmlp("sample", f"ckpt={embedding_run / 'checkpoints/last'}", "n=3", "mbr=3", "steps=5",
                  f"output={samples}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["index"] for r in _records(samples)] == [0, 1, 2]
    assert json.loads(samples.with_suffix(".meta.json").read_text())["mbr"] == 3
    references = tmp_path / "references.txt"
    references.write_text("the pasta was great .\nthe staff were friendly .\n")
    result = dmlp("score", f"samples={samples}", f"ckpt={embedding_run / 'checkpoints/last'}",
                  f"references={references}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "reconstruction_bleu" in json.loads((tmp_path / "scores.json").read_text())


def test_infill_keeps_every_known_word(embedding_run, tmp_path):
    inputs = tmp_path / "templates.txt"
    inputs.write_text("the <mask> was great .\n<mask> <mask> was great .\n")
    output = tmp_path / "infills.jsonl"
    result = dmlp("sample", f"ckpt={embedding_run / 'checkpoints/last'}", "mode=infill", f"inputs={inputs}",
                  "steps=5", "mbr=2", "sampler/clamp=nearest_embedding", f"output={output}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for record in _records(output):  # a blank may be left empty (rounded to PAD); the known words all stay, in order
        words, template = record["text"].split(), record["input"].split()
        known = [word for word in template if word != "<mask>"]
        assert len(known) <= len(words) <= len(template)
        position = 0
        for word in known:
            position = words.index(word, position) + 1


def test_reconstruct_rounds_the_inputs_embeddings(embedding_run, tmp_path):
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the pasta was great .\n")
    output = tmp_path / "reconstructions.jsonl"
    result = dmlp("sample", f"ckpt={embedding_run / 'checkpoints/last'}", "mode=reconstruct", f"inputs={inputs}",
                  f"output={output}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(_records(output)) == 1


def _scores_offline(pretrained: Path, *, references: Path, work: Path) -> None:
    """`dmlp score scorer=local` loads a scorer recipe's from_pretrained folder and scores samples and references."""
    assert (pretrained / "config.json").is_file()
    samples = work / "samples.jsonl"
    samples.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("the pasta was great .", "the staff were .")))
    result = dmlp("score", f"samples={samples}", "scorer=local", f"scorer.name_or_path={pretrained}",
                  f"references={references}", cwd=work)
    assert result.returncode == 0, result.stderr
    scores = json.loads((work / "scores.json").read_text())
    assert scores["perplexity"] > 1 and scores["reference_perplexity"] > 1
    assert scores["perplexity_ratio"] == pytest.approx(scores["perplexity"] / scores["reference_perplexity"])


def test_the_scorer_recipe_trains_a_from_pretrained_lm_that_scores_offline(tmp_path):
    data = tmp_path / "corpus"
    data.mkdir()
    for split, count in (("train", 64), ("valid", 16)):
        lines = [json.dumps({"text": f"the pasta was great and the staff were friendly {i % 3} ."}) for i in range(count)]
        (data / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    result = dmlp("train", "+experiment=scorer", "dataset=local", f"dataset.path={data}", "logger=none",
                  "trainer.max_steps=4", "trainer.eval_every=2", "trainer.log_every=2", "trainer.global_batch_size=8",
                  "model.hidden_size=32", "model.num_layers=1", "hydra.run.dir=scorer", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _scores_offline(tmp_path / "scorer" / "checkpoints" / "best" / "pretrained", references=data / "valid.jsonl",
                    work=tmp_path)


def test_the_e2e_scorer_recipe_trains_a_from_pretrained_lm_that_scores_offline(causal_lm_run, tmp_path):
    """The session's tiny e2e_scorer run (tests/commands/conftest.py), not a second training."""
    _scores_offline(causal_lm_run / "checkpoints" / "best" / "pretrained",
                    references=causal_lm_run.parent / "corpus" / "valid.jsonl", work=tmp_path)


def test_the_familys_bad_inputs_give_one_clear_line(embedding_run, tmp_path):
    ckpt = f"ckpt={embedding_run / 'checkpoints/last'}"
    no_mask = tmp_path / "no_mask.txt"
    no_mask.write_text("the pasta was great .\n")
    _one_line_error(dmlp("sample", ckpt, "mode=infill", f"inputs={no_mask}", cwd=tmp_path), "has no <mask>")
    pair = tmp_path / "pair.txt"
    pair.write_text("the pasta was great .\ni loved it .\n")
    _one_line_error(dmlp("sample", ckpt, "mode=interpolate", f"inputs={pair}", cwd=tmp_path),
                    "is for the latent family")
    _one_line_error(dmlp("sample", ckpt, "decoding=beam", cwd=tmp_path), "decodes by rounding")
    _one_line_error(dmlp("train", *TINY_EMBEDDING, "denoiser.embedding_dim=4", cwd=tmp_path),
                    "denoiser.embedding_dim=4 differs from encoder.embedding_dim=8")
    _one_line_error(dmlp("train", *TINY_EMBEDDING, "decoder=gpt2_scratch", cwd=tmp_path),
                    "decoder LatentDecoder belongs to the latent family")
    _one_line_error(dmlp("train", *TINY_TRAIN, "packing=block", cwd=tmp_path), "packing=block is for the embedding")


def test_a_latent_checkpoint_refuses_infill_and_the_nearest_embedding_clamp(tmp_path):
    result = dmlp("train", *TINY_TRAIN, "hydra.run.dir=latent", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    ckpt = f"ckpt={tmp_path / 'latent' / 'checkpoints/last'}"
    templates = tmp_path / "templates.txt"
    templates.write_text("the <mask> was great .\n")
    _one_line_error(dmlp("sample", ckpt, "mode=infill", f"inputs={templates}", cwd=tmp_path),
                    "is for the embedding family")
    _one_line_error(dmlp("sample", ckpt, "sampler/clamp=nearest_embedding", cwd=tmp_path), "snaps x0 to word embeddings")


def test_the_prior_stage_refuses_an_embedding_family_checkpoint(embedding_run, tmp_path):
    result = dmlp("train", *TINY_JOINT, f"prior.init={embedding_run / 'checkpoints' / 'last'}",
                  "hydra.run.dir=bad", cwd=tmp_path)
    _one_line_error(result, "the prior stage trains a latent prior", "embedding-family checkpoint")


def test_a_prior_stage_after_an_embedding_family_run_is_refused_before_training(tmp_path):
    result = dmlp("train", *TINY_EMBEDDING, "prior=frozen_autoencoder", "hydra.run.dir=bad", cwd=tmp_path)
    _one_line_error(result, "is of the embedding family, which has none", "prior=none")
    assert not (tmp_path / "bad" / "checkpoints").exists()
