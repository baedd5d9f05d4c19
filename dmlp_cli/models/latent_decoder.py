"""GPT-2 decoder conditioned on a latent z, Optimus-style, through the transformers cache API.

z reaches the decoder two ways (Li et al., 2020, "Optimus", §3.2):
  * embedding: W_e z is added to every input token embedding;
  * memory:    W_m z gives every layer one extra key/value position that all
               tokens attend to, placed in a `DynamicCache` as if it were a
               past token, so the installed GPT-2 code runs unmodified.
Decoding (models/decoding.py) continues the same cache, so generation is KV-cached from the start.
"""

import torch
import torch.nn.functional as F
from torch import nn
from transformers import DynamicCache

from dmlp_cli.errors import DmlpError
from dmlp_cli.models.backbones import causal_lm_backbone

INJECTIONS = ("embedding", "memory")


class LatentDecoder(nn.Module):
    """x_0 = z → tokens: a causal LM that reads z as an embedding offset and/or a memory position."""

    family = "latent"  # the part of models/family.py it belongs to (models/build.py checks)

    def __init__(
        self,
        *,
        tokenizer,
        latent_dim: int,
        name_or_path: str | None = None,
        pretrained: bool = True,
        hidden_size: int = 256,
        num_layers: int = 4,
        num_heads: int = 4,
        max_position_embeddings: int = 128,
        dropout: float = 0.1,
        inject: list[str] = ("embedding", "memory"),
    ):
        super().__init__()
        unknown = set(inject) - set(INJECTIONS)
        if unknown or not inject:
            raise DmlpError(f"decoder.inject must be a non-empty subset of {list(INJECTIONS)}, got {list(inject)}")
        self.backbone = causal_lm_backbone(
            tokenizer=tokenizer, name_or_path=name_or_path, pretrained=pretrained, hidden_size=hidden_size,
            num_layers=num_layers, num_heads=num_heads, max_position_embeddings=max_position_embeddings,
            dropout=dropout, role="decoder",
        )
        config = self.backbone.config
        self.num_layers = config.num_hidden_layers
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.max_positions = getattr(config, "n_positions", None) or config.max_position_embeddings
        self.bos_token_id, self.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
        self.inject = tuple(inject)
        self.embedding_proj = nn.Linear(latent_dim, config.hidden_size, bias=False) if "embedding" in inject else None
        memory_size = 2 * self.num_layers * self.num_kv_heads * self.head_dim
        self.memory_proj = nn.Linear(latent_dim, memory_size, bias=False) if "memory" in inject else None

    def initial_cache(self, z: torch.Tensor) -> DynamicCache | None:
        """One past key/value position per layer computed from z: [B, heads, 1, head_dim] each."""
        if self.memory_proj is None:
            return None
        memory = self.memory_proj(z).view(z.shape[0], self.num_layers, 2, self.num_kv_heads, 1, self.head_dim)
        layers = [(memory[:, layer, 0], memory[:, layer, 1]) for layer in range(self.num_layers)]
        return DynamicCache(ddp_cache_data=layers, config=self.backbone.config)

    def step(
        self, *, input_ids: torch.Tensor, z: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor,
        cache: DynamicCache | None,
    ):
        """One backbone pass over `input_ids` at `positions`, after what `cache` holds (z's memory position and
        earlier tokens); `attention_mask` covers the earlier tokens and these, not the memory."""
        embeds = self.backbone.get_input_embeddings()(input_ids)
        if self.embedding_proj is not None:
            embeds = embeds + self.embedding_proj(z).unsqueeze(1).to(embeds.dtype)
        if self.memory_proj is not None:
            memory_mask = attention_mask.new_ones(attention_mask.shape[0], 1)
            attention_mask = torch.cat([memory_mask, attention_mask], dim=1)
        return self.backbone(
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=cache is not None,
        )

    def forward(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, L, V] for every position of `BOS text EOS`."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0).expand_as(input_ids)
        out = self.step(
            input_ids=input_ids, z=z, attention_mask=attention_mask, positions=positions, cache=self.initial_cache(z)
        )
        return out.logits

    def reconstruction_nll(
        self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample summed NLL of every token after BOS (EOS included) and the number of such tokens."""
        logits = self.forward(input_ids=input_ids, attention_mask=attention_mask, z=z)[:, :-1]
        targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
        nll = F.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=-100, reduction="none")
        return nll.sum(1), (targets != -100).sum(1)
