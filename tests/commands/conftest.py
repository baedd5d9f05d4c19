"""A tiny causal LM trained through the real `dmlp train` (the e2e_scorer recipe): the AR baseline that
`dmlp sample` draws from and the scorer that `dmlp score` tests load offline."""

import json
from pathlib import Path

import pytest

from tests.commands.test_cli import dmlp

CORPUS = [f"the pasta was great and the staff were friendly {i % 3} ." for i in range(4)] + [
    "i loved the fries but the waiter was cold .", "the waiter was nice and the fries were great .",
]


@pytest.fixture(scope="session")
def causal_lm_run(tmp_path_factory) -> Path:
    """`dmlp train +experiment=e2e_scorer` on a 6-sentence corpus, 20 steps: its run folder."""
    work = tmp_path_factory.mktemp("causal_lm")
    data = work / "corpus"
    data.mkdir()
    for split, repeats in (("train", 12), ("valid", 2)):
        (data / f"{split}.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in CORPUS * repeats))
    result = dmlp("train", "+experiment=e2e_scorer", f"dataset.path={data}", "logger=none", "trainer.max_steps=20",
                  "trainer.eval_every=20", "trainer.log_every=10", "trainer.warmup_steps=2",
                  "trainer.global_batch_size=8", "model.tokenizer.min_frequency=1", "model.hidden_size=32",
                  "model.num_layers=1", "hydra.run.dir=run", cwd=work)
    assert result.returncode == 0, result.stderr
    return work / "run"
