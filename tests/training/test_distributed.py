"""Two gloo processes running Trainer.fit: the same weights on both ranks, equal to one process with the same global
batch, disjoint data shards, files from rank 0 only."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dmlp_cli.data.collate import PairCollator
from dmlp_cli.training import distributed
from dmlp_cli.training.loop import Trainer
from tests.training.helpers import tiny_training_model, toy_training_set

STEPS, GLOBAL_BATCH = 3, 16


def _train(run_dir: str) -> dict:
    """Fit on this process's place in the group; returns the weights, the texts it trained on and its save calls."""
    tokenizer, data = toy_training_set(64)
    model = tiny_training_model(tokenizer)
    collate = PairCollator(encoder_pad_id=tokenizer.pad_token_id, decoder_pad_id=tokenizer.pad_token_id)
    seen, saves = [], []

    def recording_collator(examples):
        seen.extend(e["text"] for e in examples)
        return collate(examples)

    def save(*, model, weights, step, metrics, trainer_state, ema, is_best):
        saves.append(step)

    trainer = Trainer(max_steps=STEPS, global_batch_size=GLOBAL_BATCH, lr=1e-3, warmup_steps=1, log_every=1,
                      eval_every=100, device="cpu", seed=1)
    trainer.fit(model=model, train_set=data, collator=recording_collator, run_dir=run_dir,
                validate=lambda m: ({}, []), save=save, context=distributed.current())
    return {"weights": {k: v.detach().clone() for k, v in model.state_dict().items()}, "seen": seen, "saves": saves}


def _rank(rank: int, port: int, run_dir: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    distributed.init_from_env()
    try:
        torch.save(_train(run_dir), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_hold_identical_weights_equal_to_one_process_on_disjoint_shards(tmp_path):
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    run_dir.mkdir()
    out_dir.mkdir()
    mp.spawn(_rank, args=(_free_port(), str(run_dir), str(out_dir)), nprocs=2, join=True)
    ranks = [torch.load(out_dir / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = _train(str(tmp_path / "single"))

    for name, value in ranks[0]["weights"].items():
        assert torch.equal(value, ranks[1]["weights"][name]), name  # all-reduced gradients: bit-identical ranks
        torch.testing.assert_close(value, single["weights"][name], atol=1e-5, rtol=1e-4, msg=name)
    assert not set(ranks[0]["seen"]) & set(ranks[1]["seen"])  # disjoint shards...
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == sorted(single["seen"])  # ...that make up the global batches
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == STEPS * GLOBAL_BATCH // 2
    assert ranks[0]["saves"] == [STEPS] and ranks[1]["saves"] == []  # only rank 0 writes
    assert sorted(p.name for p in run_dir.iterdir()) == ["metrics.jsonl"]
