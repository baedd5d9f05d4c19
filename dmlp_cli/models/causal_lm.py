"""A GPT-2 causal LM trained by the shared trainer, exported for `ScorerLM` (Diffusion-LM's "lm-score").

Diffusion-LM scores samples with a GPT-2-architecture LM trained from scratch on
the same word-level data. Giving it the family interface's trainer view lets
`dmlp train` train it like any other model; `save_pretrained` writes the
`from_pretrained` folder that `ScorerLM(name_or_path=<folder>)` loads offline.

The loss is ScorerLM's definition (evaluation/perplexity.py): on `bos + tokens
+ eos`, the bos is context only and every later token, eos included, is scored,
so the training loss and the reported perplexity measure the same thing.

It is also the AR baseline that `dmlp sample` draws from: unconditional samples
from BOS to EOS through the same decoding strategies as the latent decoder
(models/decoding.py), with z of width 0 since nothing conditions the text.
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.backbones import causal_lm_backbone
from dmlp_cli.models.decoding import Decoding
from dmlp_cli.models.family import LossNoise, LossParts


class CausalLM(nn.Module):
    """Next-token prediction on the decoder side of a PairCollator batch; nothing random in the loss."""

    family = "causal_lm"

    def __init__(
        self,
        *,
        tokenizer,
        name_or_path: str | None = None,
        pretrained: bool = True,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        max_position_embeddings: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.backbone = causal_lm_backbone(
            tokenizer=tokenizer, name_or_path=name_or_path, pretrained=pretrained, hidden_size=hidden_size,
            num_layers=num_layers, num_heads=num_heads, max_position_embeddings=max_position_embeddings,
            dropout=dropout, role="model",
        )
        self.max_positions = self.backbone.config.max_position_embeddings
        self.bos_token_id, self.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id

    def draw_noise(self, *, batch_size: int, generator: torch.Generator | None = None) -> LossNoise:
        """No draws: the loss is deterministic given the batch (dropout aside)."""
        return LossNoise(batch_size=batch_size, draws={})

    def forward(self, batch: dict, noise: LossNoise | None = None) -> LossParts:
        """Token NLL of `batch["decoder_ids"]` (bos + tokens + eos, right-padded per `decoder_mask`).

        loss = total NLL / total scored tokens of the batch (token-weighted, like the perplexity).
        """
        ids, mask = batch["decoder_ids"], batch["decoder_mask"]
        if ids.shape[1] > self.max_positions:
            raise DmlpError(
                f"a batch has sequences of {ids.shape[1]} tokens but the model has {self.max_positions} positions; "
                f"set the dataset's max_length to at most {self.max_positions} or raise model.max_position_embeddings"
            )
        logits = self.backbone(input_ids=ids, attention_mask=mask).logits[:, :-1]
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100, reduction="none")
        nll_sum, num_tokens = nll.sum(1), (targets != -100).sum(1)
        return LossParts(
            loss=nll_sum.sum() / num_tokens.sum().clamp(min=1),
            parts={"nll": nll_sum / num_tokens.clamp(min=1)},
            nll_sum=nll_sum,
            num_tokens=num_tokens,
        )

    def initial_cache(self, z: torch.Tensor) -> DynamicCache | None:
        """Nothing before BOS: an unconditional LM has no memory position (decoding.TokenDecoder)."""
        return None

    def step(
        self, *, input_ids: torch.Tensor, z: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
        cache: DynamicCache | None,
    ):
        """One backbone pass over `input_ids` at `positions` after what `cache` holds; z (width 0) is not read."""
        return self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, past_key_values=cache,
            use_cache=cache is not None,
        )

    def decode(
        self, z: torch.Tensor, *, max_length: int, decoding: Decoding, generator: torch.Generator | None = None
    ) -> list[list[int]]:
        """One sample from BOS to EOS per row of z [rows, 0] (specials stripped), drawn by `decoding`."""
        return decoding.decode(self, z, max_length=max_length, generator=generator)

    def save_pretrained(self, directory: str | Path, *, tokenizer) -> Path:
        """Backbone (safetensors) and tokenizer in one folder: what `ScorerLM(name_or_path=directory)` loads."""
        directory = Path(directory)
        self.backbone.save_pretrained(directory, safe_serialization=True)
        tokenizer.save_pretrained(directory)
        return directory
