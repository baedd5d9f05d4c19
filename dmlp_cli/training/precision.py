"""Mixed precision: autocast for the forward pass, fp32 master weights, a loss scaler for fp16 only.

bf16 has fp32's exponent range, so its gradients need no scaling; fp16 does
(Micikevicius et al., 2018), and GradScaler skips the optimizer step whenever
the scaled gradients overflow. CPUs run fp32, or bf16 where asked.
"""

from contextlib import AbstractContextManager

import torch

from dmlp_cli.errors import DmlpError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, *, name: str, device: torch.device):
        if name not in DTYPES:
            raise DmlpError(f"trainer.precision '{name}' is not one of {sorted(DTYPES)}")
        if name == "fp16" and device.type != "cuda":
            raise DmlpError("trainer.precision=fp16 needs a CUDA GPU; on a CPU use fp32 (or bf16)")
        self.name, self.device = name, device
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=DTYPES[self.name], enabled=self.name != "fp32")

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring gradients back to their true scale before clipping them."""
        self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip(self) -> None:
        """A step whose gradients are not finite: update nothing; the fp16 scaler, which saw the non-finite
        gradients when unscaling them, lowers its scale."""
        self.scaler.update()
