"""The embedding family: diffusion over the sequence of word embeddings, rounded back to words (Diffusion-LM).

Li et al. (2022), §4.1, the end-to-end objective with x̂_0 = f_θ(x_t, t), per example:

    L = ‖x̂_0 − x_0‖²  (t > 0; at t = 0 against Emb(w))      denoising, "mse"
      + ‖sqrt(ᾱ_{T−1}) x_0‖²                                  x_T ≈ N(0, I), "prior"
      − log p_θ(w | x_0) = Σ_i CE(x_0,i · Eᵀ + b, w_i)          rounding, "rounding"

with x_0 = Emb(w) + σ_0 ε_0, σ_0 = sqrt(1 − ᾱ_0), and each squared norm a mean over
L·d and the CE a mean over L, as in Diffusion-LM's `training_losses_e2e`. Every
position counts, PAD included: generating PAD is how a sample chooses its length.
"""

import torch
import torch.nn.functional as F
from torch import nn

from dmlp_cli.diffusion.schedules import NoiseSchedule
from dmlp_cli.diffusion.self_conditioning import denoise
from dmlp_cli.errors import DmlpError
from dmlp_cli.models.decoding import GREEDY, Decoding, Greedy
from dmlp_cli.models.family import LossNoise, LossParts
from dmlp_cli.models.rounding import RoundingHead
from dmlp_cli.models.word_embedding import WordEmbedding


class EmbeddingDiffusion(nn.Module):
    """WordEmbedding → x_0 [B, L, d] → (denoiser learns p(x_0); RoundingHead maps x_0 back to words)."""

    family = "embedding"

    def __init__(
        self,
        *,
        encoder: WordEmbedding,
        decoder: RoundingHead,
        denoiser: nn.Module,
        schedule: NoiseSchedule,
        seq_length: int = 64,
    ):
        super().__init__()
        dim = encoder.embedding_dim
        if getattr(denoiser, "embedding_dim", dim) != dim:
            raise DmlpError(
                f"denoiser.embedding_dim={denoiser.embedding_dim} differs from encoder.embedding_dim={dim}; "
                f"set denoiser.embedding_dim={dim}"
            )
        if getattr(denoiser, "seq_length", seq_length) != seq_length:
            raise DmlpError(
                f"denoiser.seq_length={denoiser.seq_length} differs from model.seq_length={seq_length}; "
                f"set denoiser.seq_length={seq_length}"
            )
        if encoder.vocab_size != decoder.vocab_size:
            raise DmlpError(
                f"encoder vocabulary ({encoder.vocab_size}) differs from decoder vocabulary ({decoder.vocab_size}); "
                "build both from the same tokenizer"
            )
        self.encoder, self.decoder, self.denoiser, self.schedule = encoder, decoder, denoiser, schedule
        self.seq_length, self.embedding_dim = seq_length, dim

    def x0_shape(self, num_samples: int) -> tuple[int, int, int]:
        return (num_samples, self.seq_length, self.embedding_dim)

    def embedding_table(self) -> torch.Tensor:
        """E [V, d], what the nearest-embedding clamp snaps x̂_0 to."""
        return self.encoder.weight

    def encode_x0(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The clean x_0 = Emb(w) [B, L, d]."""
        return self.encoder(batch["input_ids"])

    def draw_noise(self, *, batch_size: int, generator: torch.Generator) -> LossNoise:
        """t ~ U{0..T−1}, ε_0 (for x_0), ε (for x_t), a fair coin per example for self-conditioning; in this order."""
        shape = self.x0_shape(batch_size)
        return LossNoise(batch_size=batch_size, draws={
            "timesteps": torch.randint(0, self.schedule.num_timesteps, (batch_size,), generator=generator),
            "x0": torch.randn(shape, generator=generator),
            "diffusion": torch.randn(shape, generator=generator),
            "self_condition": torch.rand(batch_size, generator=generator) < 0.5,
        })

    def forward(self, batch: dict[str, torch.Tensor], noise: LossNoise | None = None) -> LossParts:
        """The loss of a batch of `START w… END PAD…` rows; `noise` = None draws fresh noise from the global RNG.

        The noise math is float32 even under autocast: at small t the noise in x_t is a small
        fraction of x_0, which bf16's 8-bit mantissa would round, and it is the whole signal there.
        """
        input_ids = batch["input_ids"]
        batch_size, length = input_ids.shape
        if length != self.seq_length:
            raise DmlpError(
                f"batch rows have {length} tokens but model.seq_length={self.seq_length}; "
                "pad (or truncate) every row to model.seq_length"
            )
        if noise is None:
            generator = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
            noise = self.draw_noise(batch_size=batch_size, generator=generator).rows(
                torch.arange(batch_size), device=input_ids.device
            )
        t = noise["timesteps"]
        alpha_bar = self.schedule.alphas_cumprod
        x0_mean = self.encoder(input_ids).float()
        x0 = x0_mean + float((1 - alpha_bar[0]).sqrt()) * noise["x0"].float()
        x_t = self.schedule.add_noise(x0, noise["diffusion"].float(), t)

        output = denoise(self.denoiser, schedule=self.schedule, x_t=x_t, t=t, self_condition=noise["self_condition"])
        x0_hat = self.schedule.predict_x0(x_t, t, output)
        target = torch.where((t == 0).view(-1, 1, 1), x0_mean, x0)
        mse = (x0_hat - target).pow(2).mean((1, 2))
        prior = (float(alpha_bar[-1].sqrt()) * x0).pow(2).mean((1, 2))
        logits = self.decoder.logits(x0, self.encoder.weight)
        nll = F.cross_entropy(logits.transpose(1, 2), input_ids, reduction="none")
        rounding = nll.mean(1)
        accuracy = (logits.argmax(-1) == input_ids).float().mean(1)
        assert mse.shape == prior.shape == rounding.shape == (batch_size,)
        return LossParts(
            loss=(mse + prior + rounding).mean(),
            parts={"mse": mse, "prior": prior, "rounding": rounding, "rounding_accuracy": accuracy},
            nll_sum=nll.sum(1),
            num_tokens=torch.full((batch_size,), length, dtype=torch.long, device=input_ids.device),
        )

    @torch.no_grad()
    def decode(
        self, x0: torch.Tensor, *, max_length: int, decoding: Decoding = GREEDY,
        generator: torch.Generator | None = None, known: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> list[list[int]]:
        """Token ids per row: argmax of x_0 · Eᵀ + b at every position, START/END/PAD stripped, at most `max_length`.

        `known` = (mask, ids) [B, L] of an infilling template: those positions keep the template's words, which
        the sampler held at their embeddings (argmax rounding of an embedding is its word only once the rounding
        loss has trained E and b). `generator` is part of the family interface; rounding draws nothing.
        """
        if not isinstance(decoding, Greedy):
            raise DmlpError(
                "the embedding family decodes by rounding (argmax over the vocabulary); use decoding=greedy"
            )
        ids, blanks = self.decoder.round(x0, self.encoder.weight), None
        if known is not None:
            mask, template = (tensor.to(ids.device) for tensor in known)
            ids, blanks = torch.where(mask, template, ids), ~mask
        return [row[:max_length] for row in self.decoder.strip(ids, blanks=blanks)]
