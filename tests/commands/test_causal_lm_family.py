"""The causal LM (the AR baseline) through the real `dmlp sample`: unconditional samples from BOS to EOS with the
decoding group's sampling, seeded and batched, and one-line refusals of what it cannot do."""

import json
from pathlib import Path

import pytest

from tests.commands.test_cli import _one_line_error, dmlp

pytestmark = pytest.mark.slow


def _sample(run: Path, tmp_path: Path, name: str, *overrides: str) -> tuple[list[dict], dict]:
    output = tmp_path / f"{name}.jsonl"
    result = dmlp("sample", f"ckpt={run / 'checkpoints/last'}", f"output={output}", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    return records, json.loads(output.with_suffix(".meta.json").read_text())


def test_sampling_writes_n_seeded_samples_and_their_settings(causal_lm_run, tmp_path):
    records, meta = _sample(causal_lm_run, tmp_path, "a", "n=7", "batch_size=3", "decoding=sampling")
    assert [r["index"] for r in records] == list(range(7))
    assert all(set(r) == {"index", "text", "num_tokens"} and r["num_tokens"] <= 63 for r in records)
    assert len({r["text"] for r in records}) > 1  # each row draws its own text
    assert meta["family"] == "causal_lm" and meta["n"] == 7 and "sampler" not in meta
    assert meta["decoding"] == "dmlp_cli.models.decoding.Sampling"
    assert meta["decoding_options"] == {"temperature": 1.0, "top_k": None, "top_p": None}
    texts = lambda name, *seed: [r["text"] for r in _sample(  # noqa: E731
        causal_lm_run, tmp_path, name, "n=7", "batch_size=3", "decoding=sampling", *seed)[0]]
    assert texts("again") == [r["text"] for r in records] != texts("other", "seed=1")


def test_what_a_causal_lm_cannot_do_is_one_line(causal_lm_run, tmp_path):
    ckpt = f"ckpt={causal_lm_run / 'checkpoints/last'}"
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the pasta was great .\n")
    for decoding in ("greedy", "beam"):
        _one_line_error(dmlp("sample", ckpt, f"decoding={decoding}", cwd=tmp_path), "n identical samples",
                        "decoding=sampling")
    _one_line_error(dmlp("sample", ckpt, "mode=reconstruct", f"inputs={inputs}", "decoding=sampling", cwd=tmp_path),
                    "holds a causal LM", "mode=generate")
    _one_line_error(dmlp("sample", ckpt, "decoding=sampling", "top_p=0.9", cwd=tmp_path), "decoding.top_p")
