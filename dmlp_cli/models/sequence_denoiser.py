"""A denoiser over a sequence of word embeddings: (x_t [B, L, d], t [B]) → prediction [B, L, d].

Diffusion-LM's `TransformerNetModel2` (Li et al., 2022): the small
embeddings (d = 16-128) are projected up to the transformer's width, every position
gets a learned absolute position and the time embedding, a bidirectional BERT
encoder (random init) mixes the positions, and a projection brings them back to d.
"""

import torch
from torch import nn
from transformers import BertConfig
from transformers.models.bert.modeling_bert import BertEncoder

from dmlp_cli.models.denoisers import TimeEmbedding, with_self_condition


def _projection(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Linear(hidden, out_dim))


class SequenceTransformer(nn.Module):
    """Up-projection + positions + time → LayerNorm, dropout → BertEncoder → down-projection.

    Timesteps are rescaled to t · 1000 / T before the sinusoid (Diffusion-LM's
    `rescale_timesteps`), so the embedding spans the same frequencies whatever T is.
    With `self_conditioning` the input is [x_t, x̂_0] (x̂_0 = the previous estimate,
    zeros when there is none), d_in = 2d (Chen et al., 2022, "Analog Bits").
    """

    family = "embedding"  # the part of models/family.py it belongs to (models/build.py checks)

    def __init__(
        self,
        *,
        embedding_dim: int,
        seq_length: int,
        num_timesteps: int = 2000,
        hidden_size: int = 768,
        num_layers: int = 12,
        num_heads: int = 12,
        intermediate_size: int = 3072,
        time_embed_dim: int = 128,
        dropout: float = 0.1,
        self_conditioning: bool = False,
    ):
        super().__init__()
        self.embedding_dim, self.seq_length, self.self_conditioning = embedding_dim, seq_length, self_conditioning
        self.time_scale = 1000.0 / num_timesteps
        self.up = _projection((2 if self_conditioning else 1) * embedding_dim, hidden_size, hidden_size)
        self.position = nn.Embedding(seq_length, hidden_size)
        self.time = TimeEmbedding(sinusoid_dim=time_embed_dim, out_dim=hidden_size)
        self.norm = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.encoder = BertEncoder(
            BertConfig(
                hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
                intermediate_size=intermediate_size, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                attn_implementation="sdpa",  # no mask: every position attends to every other (PAD is a word here)
            )
        )
        self.down = _projection(hidden_size, hidden_size, embedding_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, self_cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.self_conditioning:
            x = with_self_condition(x, self_cond)
        positions = self.position(torch.arange(x.shape[1], device=x.device))
        h = self.up(x) + positions + self.time(t.float() * self.time_scale).unsqueeze(1)
        h = self.encoder(self.dropout(self.norm(h))).last_hidden_state
        return self.down(h)
