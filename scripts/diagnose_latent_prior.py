"""Does the latent DDPM of a toy checkpoint know more than a Gaussian? Prints JSON and a table.

    python scripts/diagnose_latent_prior.py --ckpt RUN/checkpoints/last [--n 500] [--out diagnosis.json]

Why: when generated sentences are often ungrammatical, either the decoder fails on good
latents or the prior puts its samples where no sentence is. This separates the two:

* decoder: the grammar- and syntax-valid rates of decoding held-out posterior means μ,
  and posterior samples μ + σε (what a perfect prior would produce);
* prior: the same rates for the DDPM's samples and for a full-covariance Gaussian fitted
  to the training latents (the distribution the DDPM is trained on, up to its covariance);
* denoising: on held-out latents noised to step t, the squared error of the DDPM's x̂0 and
  of the optimal linear (Wiener) denoiser of that Gaussian,
  x̂0 = m + √ᾱ_t C (ᾱ_t C + (1 − ᾱ_t) I)⁻¹ (x_t − √ᾱ_t m).

A DDPM whose rates and errors match the Gaussian's has learned the latents' mean and
covariance and nothing else. Works on checkpoints trained on the toy corpus (the oracle).
"""

import argparse
import json

import torch
from hydra.utils import instantiate
from rich.console import Console
from rich.table import Table

from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.diffusion.samplers import AncestralSampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate, syntax_valid_rate
from dmlp_cli.evaluation.linear_denoiser import denoising_errors
from dmlp_cli.models.text_io import decode_texts, encode_texts, generate_texts
from dmlp_cli.training.checkpoint import load_checkpoint

TIMESTEPS = (50, 100, 200, 400)


@torch.no_grad()
def posterior(checkpoint, texts: list[str], *, max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ, σ) of q(z | x) for each sentence."""
    batches, _ = encode_texts(
        texts, family="latent", encoder_tokenizer=checkpoint.encoder_tokenizer, decoder_tokenizer=checkpoint.decoder_tokenizer,
        max_length=max_length, batch_size=500,
    )
    means, stds = [], []
    for batch in batches:
        mu, logvar = checkpoint.model.encode(batch["encoder_ids"], batch["encoder_mask"])
        means.append(mu)
        stds.append((0.5 * logvar).exp())
    return torch.cat(means), torch.cat(stds)


def rates(texts: list[str]) -> dict:
    return {"grammar_valid_rate": grammar_valid_rate(texts), "syntax_valid_rate": syntax_valid_rate(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, help="a checkpoint folder trained on the toy corpus")
    parser.add_argument("--n", type=int, default=500, help="sentences per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()

    try:
        checkpoint = load_checkpoint(args.ckpt)
    except DmlpError as error:  # a missing or damaged folder: one line, as the CLI gives
        raise SystemExit(f"error: {error}") from None
    corpus = instantiate(checkpoint.config.dataset)
    if not isinstance(corpus, ToyCorpus):
        raise SystemExit(f"{args.ckpt} was trained on {type(corpus).__name__}; this diagnosis needs the toy corpus's oracle")
    model, max_length = checkpoint.model.eval(), int(checkpoint.config.max_length)
    splits = corpus.load()
    generator = torch.Generator().manual_seed(args.seed)

    train_mu, train_sigma = posterior(checkpoint, splits["train"]["text"], max_length=max_length)
    test_mu, test_sigma = posterior(checkpoint, splits["test"]["text"][: args.n], max_length=max_length)
    normalize = model.normalization.normalize  # the space the DDPM runs in (identity without a prior stage)
    train_z = normalize(train_mu + train_sigma * torch.randn(train_mu.shape, generator=generator))
    test_z = normalize(test_mu + test_sigma * torch.randn(test_mu.shape, generator=generator))
    mean, cov = train_z.mean(0), torch.cov(train_z.T)
    gaussian = mean + torch.randn((args.n, mean.shape[0]), generator=generator) @ torch.linalg.cholesky(cov).T

    def decode(z: torch.Tensor) -> list[str]:
        return decode_texts(model, z, tokenizer=checkpoint.decoder_tokenizer, max_length=max_length)[0]

    ddpm = generate_texts(
        model, sampler=AncestralSampler(), tokenizer=checkpoint.decoder_tokenizer, num_samples=args.n, batch_size=250,
        generator=generator, max_length=max_length,
    )
    report = {
        "checkpoint": str(args.ckpt),
        "valid_rates": {
            "posterior means (held out)": rates(decode(normalize(test_mu))),
            "posterior samples (held out)": rates(decode(test_z)),
            "DDPM samples (ancestral, every step)": rates(ddpm.texts),
            "Gaussian fitted to the training latents": rates(decode(gaussian)),
        },
        "denoising_squared_error": {f"t={step}": row for step, row in denoising_errors(
            model, x0=test_z, timesteps=TIMESTEPS, generator=generator).items()},
    }
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(report, handle, indent=2)

    console = Console(highlight=False)
    valid = Table("latents", "grammar-valid", "syntax-valid", title="decoded sentences")
    for name, row in report["valid_rates"].items():
        valid.add_row(name, f"{row['grammar_valid_rate']:.1%}", f"{row['syntax_valid_rate']:.1%}")
    console.print(valid)
    errors = Table("timestep", "DDPM ‖x̂0 − x0‖²", "Wiener ‖x̂0 − x0‖²", title="denoising held-out latents")
    for step, row in report["denoising_squared_error"].items():
        errors.add_row(step, f"{row['learned']:.3f}", f"{row['wiener']:.3f}")
    console.print(errors)


if __name__ == "__main__":
    main()
