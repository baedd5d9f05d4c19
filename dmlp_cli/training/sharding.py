"""`trainer.strategy=fsdp`: shard parameters, gradients and optimizer state over the ranks (torch FSDP2).

Why: DDP keeps a full copy of the model, its gradients and Adam's two moments on
every device (16 bytes per parameter in fp32); a gpt2-xl-sized decoder then
needs ~25 GB before activations. FSDP2 (`fully_shard`) keeps 1/W of each on each
rank and all-gathers a transformer block's weights just before it runs. Each
transformers block class the backbone names in `_no_split_modules` (GPT2Block,
BertLayer) is one shard group; the rest of the joint model is the root group.

Checkpoints stay the same files as without sharding: the full weights and
optimizer state are gathered to rank 0 (on the CPU) and saved there.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import FSDPModule, fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

FULL_ON_RANK_0 = StateDictOptions(full_state_dict=True, cpu_offload=True)


def shard_model(model: nn.Module) -> nn.Module:
    """Shard every transformer block of the encoder and decoder backbones, then the rest (in place)."""
    for backbone in (model.encoder.backbone, model.decoder.backbone):
        block_classes = set(getattr(backbone, "_no_split_modules", None) or ())
        for module in backbone.modules():
            if type(module).__name__ in block_classes:
                fully_shard(module)
    fully_shard(model)
    return model


def full_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every rank calls this; rank 0 gets the full state dict on the CPU, the others an empty one."""
    return get_model_state_dict(model, options=FULL_ON_RANK_0)


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    return get_optimizer_state_dict(model, optimizer, options=FULL_ON_RANK_0)


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    set_optimizer_state_dict(model, optimizer, optim_state_dict=state, options=StateDictOptions(full_state_dict=True))


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor of a shard (a collective call), or the tensor itself."""
    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def shard_like(tensor: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`tensor` (a full one) laid out like `reference` (a shard, or a plain tensor)."""
    if isinstance(reference, DTensor):
        return distribute_tensor(tensor.to(reference.device), reference.device_mesh, reference.placements)
    return tensor.to(reference.device)


@contextmanager
def unsharded(model: nn.Module) -> Iterator[nn.Module]:
    """All weights gathered on every rank, so evaluation and sampling may call any submodule directly."""
    groups = [module for module in model.modules() if isinstance(module, FSDPModule)]
    for group in groups:
        group.unshard()
    try:
        yield model
    finally:
        for group in groups:
            group.reshard()
