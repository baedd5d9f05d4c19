"""Benchmark the Diffusion-LM family on E2E (`+experiment=e2e_cpu`): training time, rounding, sample quality, speed.

    python scripts/bench_e2e.py [--data ../shared/data/e2e] [--work DIR] [--n 500] [--n-ancestral 100] [--out FILE]
                                [--override KEY=VALUE ...]   (a setting of the diffusion run to try)

Every stage is the real `dmlp` command in its own process (times are whole processes):
  1. `dmlp train +experiment=e2e_cpu` (the diffusion model) and `+experiment=e2e_scorer` (the AR scorer, Diffusion-LM's
     "lm-score" teacher trained from scratch on the same word-level data);
  2. rounding accuracy on the held-out test sentences: argmax(Emb(w)·Eᵀ + b) against w, over every position and
     over the sentence's own (non-PAD) positions, and the share of sentences rounded back exactly;
  3. `dmlp sample` with ancestral DDPM over all 2000 steps and with DPM-Solver++-20, both with nearest-embedding
     clamping; `dmlp score` of each under the scorer, next to the scorer's perplexity on the 500 test sentences;
     distinct-2 of samples next to the real test sentences'.
Ancestral-2000 costs 100x DPM-Solver-20 per sample, so it draws --n-ancestral samples (DPM-Solver draws --n and,
for the equal-quality comparison, also --n-ancestral with the same seed). Existing run folders in --work are reused.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from bench_sampling import console, dmlp
from dmlp_cli.data.jsonl import read_texts
from dmlp_cli.models.text_io import encode_texts, to_device
from dmlp_cli.training.checkpoint import load_checkpoint

SAMPLERS = {"ancestral-2000": ["sampler=ddpm", "steps=2000"], "dpm_solver-20": ["sampler=dpm_solver", "steps=20"]}


def train(name: str, experiment: str, *overrides: str, data: Path, work: Path) -> dict:
    """Train once into work/name (reused when its last checkpoint exists); wall time of the whole command."""
    run = work / name
    if (run / "checkpoints" / "last" / "meta.json").is_file():
        console.print(f"{name}: reusing {run}")
        return {"run": str(run), "seconds": None}
    console.print(f"{name}: dmlp train +experiment={experiment}")
    seconds = dmlp("train", f"+experiment={experiment}", f"dataset.path={data}", "logger=none", *overrides,
                   f"hydra.run.dir={run}", cwd=work)
    console.print(f"{name}: {seconds:.0f} s")
    return {"run": str(run), "seconds": seconds}


@torch.no_grad()
def rounding_accuracy(ckpt: Path, texts: list[str]) -> dict:
    """How well rounding maps each clean embedding sequence Emb(w) back to w."""
    checkpoint = load_checkpoint(ckpt)
    model = checkpoint.model
    batches, _ = encode_texts(texts, family=model.family, encoder_tokenizer=checkpoint.encoder_tokenizer,
                              decoder_tokenizer=checkpoint.decoder_tokenizer,
                              max_length=checkpoint.config.max_length, batch_size=250)
    correct = sentence_correct = sentence_total = exact = rows = 0
    for batch in batches:
        ids = batch["input_ids"]
        rounded = model.decoder.round(model.encode_x0(to_device(batch, "cpu")), model.embedding_table())
        hits = rounded == ids
        real = ids != checkpoint.decoder_tokenizer.pad_token_id
        correct += hits.sum().item()
        sentence_correct += (hits & real).sum().item()
        sentence_total += real.sum().item()
        exact += hits.all(dim=1).sum().item()
        rows += ids.shape[0]
    return {"token_accuracy": correct / (rows * batches[0]["input_ids"].shape[1]),
            "sentence_token_accuracy": sentence_correct / sentence_total, "exact_rows": exact / rows, "sentences": rows}


def sample_and_score(name: str, overrides: list[str], *, n: int, ckpt: Path, scorer: Path, test: Path, work: Path) -> dict:
    output = work / f"{name}-n{n}.jsonl"
    seconds = dmlp("sample", f"ckpt={ckpt}", f"n={n}", "seed=0", "sampler/clamp=nearest_embedding",
                   f"output={output}", f"hydra.run.dir={work / 'hydra'}", *overrides, cwd=work)
    meta = json.loads(output.with_suffix(".meta.json").read_text())
    scores_path = work / f"{name}-n{n}.scores.json"
    dmlp("score", f"samples={output}", "scorer=local", f"scorer.name_or_path={scorer}", f"references={test}",
         f"output={scores_path}", f"hydra.run.dir={work / 'hydra'}", cwd=work)
    scores = json.loads(scores_path.read_text())
    console.print(f"{name} n={n}: {seconds:.0f} s, perplexity {scores['perplexity']:.2f} "
                  f"(real {scores['reference_perplexity']:.2f}), distinct-2 {scores['distinct_2']:.3f}")
    return {"name": name, "n": n, "command_seconds": seconds, "sampling_seconds": meta["seconds"],
            "seconds_per_sample": meta["seconds"] / n, **{key: scores[key] for key in (
                "perplexity", "reference_perplexity", "perplexity_ratio", "distinct_1", "distinct_2", "self_bleu",
                "mean_length")}, "examples": read_texts(output)[:5]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "e2e")
    parser.add_argument("--work", type=Path, help="folder for runs and samples; default: a new temp folder")
    parser.add_argument("--n", type=int, default=500, help="DPM-Solver samples")
    parser.add_argument("--n-ancestral", type=int, default=100, help="ancestral-2000 samples")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--override", action="append", default=[],
                        help="a config override of the diffusion run (repeatable), e.g. denoiser.self_conditioning=true")
    args = parser.parse_args()
    data = args.data.resolve()
    if not (data / "train.jsonl").is_file():
        raise SystemExit(f"no E2E data at {data}; pass --data <folder with train/valid/test.jsonl>")
    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-e2e-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)

    trained = {"diffusion": train("diffusion", "e2e_cpu", *args.override, data=data, work=work),
               "scorer": train("scorer", "e2e_scorer", data=data, work=work)}
    ckpt = Path(trained["diffusion"]["run"]) / "checkpoints" / "last"
    scorer = Path(trained["scorer"]["run"]) / "checkpoints" / "best" / "pretrained"
    test = data / "test.jsonl"
    rounding = rounding_accuracy(ckpt, read_texts(test))
    console.print(f"rounding on {rounding['sentences']} test sentences: {rounding}")
    real_scores = work / "real.scores.json"
    dmlp("score", f"samples={test}", "scorer=local", f"scorer.name_or_path={scorer}", f"output={real_scores}",
         "grammar=false", f"hydra.run.dir={work / 'hydra'}", cwd=work)
    real = json.loads(real_scores.read_text())
    samples = [sample_and_score(name, overrides, n=n, ckpt=ckpt, scorer=scorer, test=test, work=work)
               for name, overrides, n in (("ancestral-2000", SAMPLERS["ancestral-2000"], args.n_ancestral),
                                          ("dpm_solver-20", SAMPLERS["dpm_solver-20"], args.n_ancestral),
                                          ("dpm_solver-20", SAMPLERS["dpm_solver-20"], args.n))]
    report = {
        "data": str(data), "diffusion_overrides": args.override, "train_seconds": {name: run["seconds"] for name, run in trained.items()},
        "rounding": rounding,
        "real_test_sentences": {key: real[key] for key in ("num_samples", "perplexity", "distinct_1", "distinct_2",
                                                           "self_bleu", "mean_length")},
        "samples": samples,
        "speedup_dpm_solver_20_vs_ancestral_2000": samples[0]["seconds_per_sample"] / samples[1]["seconds_per_sample"],
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
