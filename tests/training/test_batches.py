import pytest

from dmlp_cli.errors import DmlpError
from dmlp_cli.training.batches import StepMicroBatches, global_positions


def _steps(micro_batches: StepMicroBatches, *, steps: int, accumulation: int) -> list[list[int]]:
    """Each step's indices (micro-batches of a step concatenated)."""
    stream = iter(micro_batches)
    return [[index for _ in range(accumulation) for index in next(stream)] for _ in range(steps)]


def test_ranks_take_disjoint_shards_whose_union_is_the_single_process_batch():
    data = list(range(40))
    single = _steps(StepMicroBatches(data, rank=0, world_size=1, per_rank_batch=8, micro_batch_size=8, seed=1), steps=6, accumulation=1)
    ranks = [_steps(StepMicroBatches(data, rank=r, world_size=2, per_rank_batch=4, micro_batch_size=2, seed=1),
                    steps=6, accumulation=2) for r in range(2)]
    for step in range(6):
        assert not set(ranks[0][step]) & set(ranks[1][step])
        assert set(ranks[0][step]) | set(ranks[1][step]) == set(single[step])
        # the j-th example of rank r is example j·W + r of the global batch: the row of its loss noise
        for rank in range(2):
            positions = [global_positions(micro_index=m, micro_batch_size=2, rank=rank, world_size=2) for m in range(2)]
            assert [single[step][p] for pos in positions for p in pos.tolist()] == ranks[rank][step]


def test_epochs_reshuffle_and_a_resumed_stream_continues_exactly():
    data = list(range(20))
    full = _steps(StepMicroBatches(data, rank=0, world_size=1, per_rank_batch=8, micro_batch_size=4, seed=0), steps=5, accumulation=2)
    assert full[0] + full[1] != full[2] + full[3]  # 2 steps per epoch; the next epoch is another permutation
    resumed = _steps(StepMicroBatches(data, rank=0, world_size=1, per_rank_batch=8, micro_batch_size=4, seed=0,
                                      start_step=3), steps=2, accumulation=2)
    assert resumed == full[3:]
    assert StepMicroBatches(data, rank=0, world_size=1, per_rank_batch=8, micro_batch_size=4, seed=0).position(5) == \
        {"epoch": 2, "step_in_epoch": 1}


def test_data_smaller_than_a_global_batch_is_refused():
    with pytest.raises(DmlpError, match="fewer than one global batch"):
        StepMicroBatches(list(range(5)), rank=0, world_size=2, per_rank_batch=4, micro_batch_size=4, seed=0)
