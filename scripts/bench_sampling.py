"""Benchmark `dmlp sample` across samplers: speed end to end and by stage, peak memory, and sample quality.

    python scripts/bench_sampling.py [--ckpt PATH] [--n 500] [--out bench.json] [--scorer NAME_OR_PATH] [--repeats 3]

Each configuration runs the real `dmlp sample n=N` in its own process with the same
seed, so the numbers describe the product: `command` is the whole process (start-up,
imports and checkpoint loading included), `sampling` is what the command spends after
loading (denoising + decoding + writing the jsonl; its meta.json has the split), and
peak memory is the process's peak RSS on CPU or torch's peak allocation on a GPU.
Quality is the toy grammar's valid rate, or with --scorer the samples' perplexity
under that causal LM. Without --ckpt it first trains the toy default (`dmlp train
logger=none`, minutes on a CPU) into the work folder.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from dmlp_cli.data.jsonl import read_texts
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate
from dmlp_cli.evaluation.perplexity import ScorerLM
from dmlp_cli.training.loop import resolve_device

BASELINE = "ddpm-2000 uncached"
CONFIGS = {  # name: `dmlp sample` overrides
    BASELINE: ["sampler=ddpm", "steps=2000", "decoding.use_cache=false"],  # DMLP's sampling and decoding
    "ddpm-2000": ["sampler=ddpm", "steps=2000"],
    "ddpm-200": ["sampler=ddpm", "steps=200"],
    "ddim-50": ["sampler=ddim", "steps=50"],
    "dpm_solver-20": ["sampler=dpm_solver", "steps=20"],
    "dpm_solver-10": ["sampler=dpm_solver", "steps=10"],
}

console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 150)


def dmlp(*args: str, cwd: Path) -> float:
    """Run one `dmlp` command to completion; its wall time in seconds."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dmlp_cli", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"`dmlp {' '.join(args)}` failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def train_toy_default(work: Path, *overrides: str) -> Path:
    """The embedded default's run folder: its joint phase in checkpoints/, its prior stage in prior/checkpoints/."""
    console.print(f"no --ckpt: training the toy default into {work / 'train'} (minutes on a CPU)")
    seconds = dmlp("train", "logger=none", *overrides, f"hydra.run.dir={work / 'train'}", cwd=work)
    console.print(f"trained in {seconds:.0f} s")
    return work / "train"


def run_config(name: str, overrides: list[str], *, ckpt: Path, n: int, device: str, work: Path, repeats: int) -> dict:
    """`dmlp sample` with these overrides, `repeats` times (same seed, same texts): median times, largest peak."""
    output = work / f"{name.replace(' ', '_')}.jsonl"
    runs = []
    for _ in range(repeats):
        command_seconds = dmlp(
            "sample", f"ckpt={ckpt}", f"n={n}", "seed=0", f"device={device}", f"output={output}",
            f"hydra.run.dir={work / 'hydra'}", *overrides, cwd=work,
        )
        runs.append({**json.loads(output.with_suffix(".meta.json").read_text()), "command_seconds": command_seconds})
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("command_seconds", "seconds", "denoise_seconds", "decode_seconds")}
    return {
        "name": name, "overrides": overrides, "steps": runs[0]["steps"], "use_cache": runs[0]["use_cache"],
        "repeats": repeats, "command_seconds": median["command_seconds"], "sampling_seconds": median["seconds"],
        "denoise_seconds": median["denoise_seconds"], "decode_seconds": median["decode_seconds"],
        "sentences_per_s": n / median["seconds"], "command_sentences_per_s": n / median["command_seconds"],
        "peak_memory_mb": max(run["peak_memory_bytes"] for run in runs) / 2**20, "device": runs[0]["device"],
        "samples": str(output),
    }


def add_quality(results: list[dict], *, scorer: str | None, device: str) -> str:
    """Valid rate (toy grammar) or perplexity (scorer) of each configuration's samples; returns the metric's name."""
    lm = ScorerLM(name_or_path=scorer, device=str(resolve_device(device))) if scorer else None
    for result in results:
        texts = read_texts(result["samples"])
        if lm is None:
            result["grammar_valid_rate"] = grammar_valid_rate(texts)
        else:
            result["perplexity"] = lm.perplexity(texts).perplexity
    return "perplexity" if lm else "grammar_valid_rate"


def table(results: list[dict], *, metric: str) -> Table:
    view = Table(title="dmlp sample, per configuration", header_style="bold")
    for column in ("configuration", "command s", "sampling s", "denoise s", "decode s", "sentences/s",
                   "x sampling", "x command", "peak MB", "valid %" if metric != "perplexity" else "ppl"):
        view.add_column(column, justify="left" if column == "configuration" else "right", no_wrap=True)
    for r in results:
        quality = f"{100 * r[metric]:.1f}" if metric != "perplexity" else f"{r[metric]:.2f}"
        view.add_row(
            r["name"], f"{r['command_seconds']:.1f}", f"{r['sampling_seconds']:.2f}", f"{r['denoise_seconds']:.2f}",
            f"{r['decode_seconds']:.2f}", f"{r['sentences_per_s']:.0f}", f"{r['speedup_sampling']:.1f}x",
            f"{r['speedup_command']:.1f}x", f"{r['peak_memory_mb']:.0f}", quality,
        )
    return view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, help="checkpoint folder; default: train the toy default first")
    parser.add_argument("--n", type=int, default=500, help="samples per configuration")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--scorer", help="causal LM (hub id or folder) for perplexity instead of the grammar's valid rate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration; times are their medians")
    parser.add_argument("--work", type=Path, help="folder for the samples (and the trained checkpoint); default: a new temp folder")
    args = parser.parse_args()

    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-sampling-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    ckpt = args.ckpt.resolve() if args.ckpt else train_toy_default(work) / "prior" / "checkpoints" / "last"
    results = []
    for name, overrides in CONFIGS.items():
        console.print(f"[bold]{name}[/bold]: dmlp sample n={args.n} {' '.join(overrides)}")
        results.append(run_config(name, overrides, ckpt=ckpt, n=args.n, device=args.device, work=work, repeats=args.repeats))
    metric = add_quality(results, scorer=args.scorer, device=args.device)
    baseline = results[0]
    for r in results:
        r["speedup_sampling"] = baseline["sampling_seconds"] / r["sampling_seconds"]
        r["speedup_command"] = baseline["command_seconds"] / r["command_seconds"]
    same_texts = read_texts(results[0]["samples"]) == read_texts(results[1]["samples"])
    report = {
        "ckpt": str(ckpt), "n": args.n, "repeats": args.repeats, "device": baseline["device"], "metric": metric, "baseline": BASELINE,
        "cached_equals_uncached": same_texts, "configs": results,
    }
    print(json.dumps(report, indent=2))
    console.print(table(results, metric=metric))
    by_name = {r["name"]: r for r in results}
    fast = by_name["dpm_solver-20"]
    difference = fast[metric] - by_name["ddpm-2000"][metric]
    console.print(
        f"dpm_solver-20 vs ddpm-2000: {metric} {difference * (100 if metric != 'perplexity' else 1):+.2f}"
        f"{' points' if metric != 'perplexity' else ''}; dmlp sample n={args.n} is {fast['speedup_sampling']:.0f}x faster "
        f"after loading ({fast['speedup_command']:.1f}x as whole processes) than {BASELINE}; "
        f"cached and uncached decoding wrote {'the same' if same_texts else 'DIFFERENT'} texts"
    )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
