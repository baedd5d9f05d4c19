"""Denoisers over a latent vector: (x_t [B, d], t [B]) → prediction [B, d].

With `self_conditioning` a denoiser also takes its previous estimate x̂_0 [B, d] (`self_cond`, zeros
when there is none) and reads [x_t, x̂_0] (Chen et al., 2022, "Analog Bits"; LD4LG trains its latent
prior so); diffusion/self_conditioning.py trains it, the samplers feed it back.
"""

import math

import torch
from torch import nn


def with_self_condition(x: torch.Tensor, self_cond: torch.Tensor | None) -> torch.Tensor:
    """[x_t, x̂_0] along the last dimension; x̂_0 = zeros when not given."""
    return torch.cat([x, torch.zeros_like(x) if self_cond is None else self_cond.to(x.dtype)], dim=-1)


def timestep_embedding(t: torch.Tensor, *, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (Vaswani et al., 2017; Ho et al., 2020): [cos(t·ω_k), sin(t·ω_k)]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().unsqueeze(-1) * freqs
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return nn.functional.pad(embedding, (0, dim % 2))


class TimeEmbedding(nn.Module):
    """t → sinusoid → MLP → [B, out_dim]: the conditioning vector both denoisers use."""

    def __init__(self, *, sinusoid_dim: int, out_dim: int):
        super().__init__()
        self.sinusoid_dim = sinusoid_dim
        self.mlp = nn.Sequential(nn.Linear(sinusoid_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, dim=self.sinusoid_dim))


class SkipLayer(nn.Module):
    """Linear → scale by (1 + Linear(SiLU(time))) → LayerNorm → SiLU, as in Diffusion Autoencoders' MLPLNAct."""

    def __init__(self, *, in_dim: int, out_dim: int, cond_dim: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        self.cond = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, out_dim))
        self.norm = nn.LayerNorm(out_dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.kaiming_normal_(self.linear.weight, nonlinearity="relu")

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.linear(h) * (1.0 + self.cond(cond))
        return self.dropout(nn.functional.silu(self.norm(h)))


class MLPSkipNet(nn.Module):
    """DMLP's latent denoiser (Preechakul et al., 2022, MLPSkipNet): a deep MLP whose every hidden
    layer also sees the input x_t again (concatenated), with time scaling each layer.

    The skip connections let a 20-layer MLP keep x_t available at every depth, which
    plain stacking loses; DMLP's yelp recipe uses 20 layers of width 2048.
    """

    family = "latent"  # the part of models/family.py it belongs to (models/build.py checks)

    def __init__(
        self, *, latent_dim: int, hidden_dim: int = 2048, num_layers: int = 20, time_embed_dim: int = 64,
        dropout: float = 0.0, self_conditioning: bool = False,
    ):
        super().__init__()
        self.self_conditioning = self_conditioning
        in_dim = 2 * latent_dim if self_conditioning else latent_dim
        self.time = TimeEmbedding(sinusoid_dim=time_embed_dim, out_dim=latent_dim)
        self.hidden = nn.ModuleList(
            SkipLayer(
                in_dim=in_dim if i == 0 else hidden_dim + in_dim,
                out_dim=hidden_dim,
                cond_dim=latent_dim,
                dropout=dropout,
            )
            for i in range(num_layers - 1)
        )
        self.out = nn.Linear(hidden_dim + in_dim, latent_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, self_cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.self_conditioning:
            x = with_self_condition(x, self_cond)
        cond = self.time(t)
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h if i == 0 else torch.cat([h, x], dim=-1), cond)
        return self.out(torch.cat([h, x], dim=-1))


class LatentTransformer(nn.Module):
    """The latent split into `num_tokens` tokens, a small TransformerEncoder over them, merged back.

    Attention between chunks of z lets the denoiser model interactions an MLP of the
    same size spreads thinly; DMLP's TransformerNet uses 4 tokens of width 512.
    """

    family = "latent"  # the part of models/family.py it belongs to (models/build.py checks)

    def __init__(
        self, *, latent_dim: int, num_tokens: int = 4, hidden_dim: int = 512, num_layers: int = 12,
        num_heads: int = 8, time_embed_dim: int = 64, dropout: float = 0.0, self_conditioning: bool = False,
    ):
        super().__init__()
        self.num_tokens, self.hidden_dim, self.self_conditioning = num_tokens, hidden_dim, self_conditioning
        self.time = TimeEmbedding(sinusoid_dim=time_embed_dim, out_dim=hidden_dim)
        self.split = nn.Linear((2 if self_conditioning else 1) * latent_dim, num_tokens * hidden_dim)
        self.position = nn.Parameter(torch.zeros(1, num_tokens + 1, hidden_dim))
        layer = nn.TransformerEncoderLayer(
            d_model=hidden_dim, nhead=num_heads, dim_feedforward=4 * hidden_dim, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.merge = nn.Linear(num_tokens * hidden_dim, latent_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, self_cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.self_conditioning:
            x = with_self_condition(x, self_cond)
        tokens = self.split(x).view(x.shape[0], self.num_tokens, self.hidden_dim)
        tokens = torch.cat([self.time(t).unsqueeze(1), tokens], dim=1) + self.position
        out = self.encoder(tokens)[:, 1:]
        return self.merge(out.reshape(x.shape[0], -1))
