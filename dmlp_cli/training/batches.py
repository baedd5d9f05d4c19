"""Which examples each rank trains on at each step: DistributedSampler shards, resumable at any step.

Every epoch is a seeded permutation (DistributedSampler with set_epoch) split
into disjoint per-rank shards; each optimizer step takes the next
global_batch_size / world_size examples of this rank's shard, in micro-batches
of micro_batch_size. The tail of an epoch that does not fill a step is
skipped, so the data position is a function of the step alone and a resumed
run picks up exactly where the interrupted one stopped.

Positions: the j-th example of rank r's share of a step is example j·W + r of
the step's global batch (DistributedSampler deals the permutation round-robin),
the index the trainer uses to give every example the same noise whatever W is.
"""

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from dmlp_cli.errors import DmlpError


class StepMicroBatches(Sampler[list[int]]):
    """Index lists of micro-batches, `accumulation` per step, from step `start_step` on, forever."""

    def __init__(self, dataset, *, rank: int, world_size: int, per_rank_batch: int, micro_batch_size: int,
                 seed: int, start_step: int = 0):
        self.sampler = DistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        self.steps_per_epoch = len(self.sampler) // per_rank_batch
        if self.steps_per_epoch == 0:
            raise DmlpError(
                f"the training split has {len(dataset)} examples, fewer than one global batch "
                f"({per_rank_batch * world_size}); lower trainer.global_batch_size or add data"
            )
        self.per_rank_batch, self.micro_batch_size, self.start_step = per_rank_batch, micro_batch_size, start_step

    def position(self, step: int) -> dict[str, int]:
        """Epoch and step within it after `step` completed steps."""
        return {"epoch": step // self.steps_per_epoch, "step_in_epoch": step % self.steps_per_epoch}

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            epoch, within = divmod(step, self.steps_per_epoch)
            self.sampler.set_epoch(epoch)
            indices = list(self.sampler)
            for offset in range(within * self.per_rank_batch, self.steps_per_epoch * self.per_rank_batch,
                                self.micro_batch_size):
                yield indices[offset: offset + self.micro_batch_size]
            step = (epoch + 1) * self.steps_per_epoch


def micro_batch_loader(dataset, *, collator, micro_batches: StepMicroBatches, num_workers: int) -> Iterator[dict]:
    loader = DataLoader(dataset, batch_sampler=micro_batches, collate_fn=collator, num_workers=num_workers)
    return iter(loader)


def global_positions(*, micro_index: int, micro_batch_size: int, rank: int, world_size: int) -> torch.Tensor:
    """Positions in the step's global batch of micro-batch `micro_index` of this rank."""
    local = torch.arange(micro_index * micro_batch_size, (micro_index + 1) * micro_batch_size)
    return local * world_size + rank
