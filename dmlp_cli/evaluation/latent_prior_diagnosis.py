"""Is it the latent prior or the decoder? The rows of `dmlp diagnose` for a latent-family checkpoint.

Why: when generated sentences are often ungrammatical, either the decoder fails on good latents or
the prior puts its samples where no sentence is. The rows separate the two:

* decoder: the grammar- and syntax-valid rates of decoding held-out posterior means μ, and posterior
  samples μ + σε (what a perfect prior would produce);
* prior: the same rates for the diffusion prior's samples and for a full-covariance Gaussian fitted to
  the training latents (the distribution the prior is trained on, up to its covariance);
* denoising: on held-out latents noised to step t, the squared error of the prior's x̂0 and of the
  optimal linear (Wiener) denoiser of that Gaussian (evaluation/linear_denoiser.py),

      x̂0 = m + √ᾱ_t C (ᾱ_t C + (1 − ᾱ_t) I)⁻¹ (x_t − √ᾱ_t m).

A prior whose rates and errors match the Gaussian's has learned the latents' mean and covariance and
nothing else. The validity rates need the toy corpus's grammar oracle; the denoising errors do not.
Every latent is taken to the space the denoiser runs in (`model.normalization.normalize`: the
identity until a prior stage fits it), which is also what `model.decode` reads.
"""

import torch

from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate, syntax_valid_rate
from dmlp_cli.evaluation.linear_denoiser import denoising_errors
from dmlp_cli.models.text_io import decode_texts, encode_texts
from dmlp_cli.training.checkpoint import Checkpoint
from dmlp_cli.training.latent_cache import encode_posteriors

SIGNAL_LEVELS = (0.99, 0.9, 0.5, 0.1)  # ᾱ_t of the denoising rows: from almost clean to mostly noise
VALIDITY_ROWS = {  # key in the report -> what the row decodes
    "posterior_means": "posterior means μ (held out)",
    "posterior_samples": "posterior samples μ + σε (held out)",
    "prior_samples": "prior samples",
    "gaussian_fit": "Gaussian fitted to the training latents",
}


def posterior(checkpoint: Checkpoint, texts: list[str], *, max_length: int,
              batch_size: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, σ) [N, d] of q(z | x) for each sentence, on the model's device, before any normalisation."""
    batches, _ = encode_texts(
        texts, family="latent", encoder_tokenizer=checkpoint.encoder_tokenizer,
        decoder_tokenizer=checkpoint.decoder_tokenizer, max_length=max_length, batch_size=batch_size,
    )
    device = next(checkpoint.model.parameters()).device
    latents = encode_posteriors(checkpoint.model, batches, device=device)
    return latents.means.to(device), (0.5 * latents.logvars).exp().to(device)


def diffusion_space_latents(checkpoint: Checkpoint, texts: list[str], *, max_length: int, batch_size: int,
                            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised μ, normalised μ + σε) of each sentence: its posterior mean and one posterior sample in the
    space the denoiser runs in; ε is drawn on the CPU with `generator`."""
    mu, sigma = posterior(checkpoint, texts, max_length=max_length, batch_size=batch_size)
    normalize = checkpoint.model.normalization.normalize
    noise = torch.randn(mu.shape, generator=generator).to(mu.device)
    return normalize(mu), normalize(mu + sigma * noise)


def gaussian_fit_samples(z: torch.Tensor, *, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """`num_samples` draws [num_samples, d] from N(mean, covariance) of the rows of z [N, d] (N > d)."""
    mean, cov = z.mean(0), torch.atleast_2d(torch.cov(z.T))
    noise = torch.randn((num_samples, z.shape[1]), generator=generator).to(z.device)
    return mean + noise @ torch.linalg.cholesky(cov).T


def rates(texts: list[str]) -> dict:
    """The toy grammar oracle's grammar- and syntax-valid rates of the texts."""
    return {"grammar_valid_rate": grammar_valid_rate(texts), "syntax_valid_rate": syntax_valid_rate(texts)}


def validity_rows(checkpoint: Checkpoint, *, held_out_means: torch.Tensor, held_out_samples: torch.Tensor,
                  training_samples: torch.Tensor, prior_texts: list[str], max_length: int, batch_size: int,
                  generator: torch.Generator) -> dict:
    """{row key of VALIDITY_ROWS: rates}: the decoded held-out posterior means and samples, the prior's samples
    (already decoded) and as many draws from the Gaussian fitted to the training posterior samples; latents are
    normalised, decoding is greedy."""

    def decoded(z: torch.Tensor) -> list[str]:
        return [text for start in range(0, z.shape[0], batch_size)
                for text in decode_texts(checkpoint.model, z[start: start + batch_size],
                                         tokenizer=checkpoint.decoder_tokenizer, max_length=max_length)[0]]

    gaussian = gaussian_fit_samples(training_samples, num_samples=len(prior_texts), generator=generator)
    return {
        "posterior_means": rates(decoded(held_out_means)),
        "posterior_samples": rates(decoded(held_out_samples)),
        "prior_samples": rates(prior_texts),
        "gaussian_fit": rates(decoded(gaussian)),
    }


def timesteps_at_signal_levels(alphas_cumprod: torch.Tensor, *,
                               levels: tuple[float, ...] = SIGNAL_LEVELS) -> list[int]:
    """The timestep whose ᾱ_t is nearest each level, increasing, each once: the same noise levels whatever the
    schedule and its number of steps."""
    return sorted({int((alphas_cumprod - level).abs().argmin()) for level in levels})


def denoising_rows(model: torch.nn.Module, *, held_out_samples: torch.Tensor, generator: torch.Generator) -> dict:
    """{"t=…": {"alpha_bar", "learned", "wiener"}}: E‖x̂0 − x0‖² of the model's denoiser and of the Wiener denoiser
    of the held-out latents' Gaussian fit, at the timesteps of SIGNAL_LEVELS."""
    alphas_cumprod = model.schedule.alphas_cumprod
    errors = denoising_errors(model, x0=held_out_samples, timesteps=tuple(timesteps_at_signal_levels(alphas_cumprod)),
                              generator=generator)
    return {f"t={step}": {"alpha_bar": float(alphas_cumprod[step]), **row} for step, row in errors.items()}
