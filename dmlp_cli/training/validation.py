"""Evaluation during training: held-out losses, reconstruction BLEU, and a few generated samples.

The held-out loss parts are whatever the model's family reports (models/family.py);
reconstruction decodes each input's clean x0 (the latent family's posterior mean,
the embedding family's word embeddings, which decode by rounding).
"""

from collections.abc import Callable, Sequence

import torch

from dmlp_cli.data.collate import collated_batches
from dmlp_cli.diffusion.samplers import Sampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.bleu import corpus_bleu
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate, syntax_valid_rate
from dmlp_cli.models.build import build_sampler, instantiate_with
from dmlp_cli.models.text_io import generate_texts, reconstruct_batches, to_device

TOY_ORACLES = {"grammar_valid_rate": grammar_valid_rate, "syntax_valid_rate": syntax_valid_rate}


def build_validator(node, *, model, dataset, collator, decoder_tokenizer, toy_corpus: bool) -> "Validator":
    """The `validation` node's Validator for `model`; samples of the toy corpus are also graded by its grammar."""
    return instantiate_with(
        node, dataset=dataset, collator=collator, decoder_tokenizer=decoder_tokenizer,
        sampler=build_sampler(node.sampler, model=model), oracles=TOY_ORACLES if toy_corpus else None,
    )


class Validator:
    """Runs on fixed held-out batches with its own RNG, so evaluating never changes the training run."""

    def __init__(
        self, *, dataset, collator, decoder_tokenizer, sampler: Sampler, num_reconstruct: int = 256,
        num_generate: int = 64, batch_size: int = 128, max_length: int = 64,
        oracles: dict[str, Callable[[Sequence[str]], float]] | None = None, seed: int = 0,
    ):
        if not isinstance(sampler, Sampler):  # validation.sampler=NAME sets a string instead of choosing the group
            raise DmlpError(f"validation.sampler={sampler} sets a value; choose the evaluation sampler with "
                            f"validation/sampler={sampler} (and its steps with validation.sampler.steps=N)")
        self.batches = collated_batches(dataset, collator=collator, batch_size=batch_size, limit=num_reconstruct)
        if not self.batches:
            raise DmlpError("the validation split is empty; give the dataset a valid split or more data")
        self.tokenizer, self.sampler = decoder_tokenizer, sampler
        self.num_generate, self.max_length, self.seed = num_generate, max_length, seed
        self.oracles = oracles or {}  # name -> rate of generated samples (the toy grammar's valid rates)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> tuple[dict, list[str]]:
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            sums: dict[str, float] = {}
            nll, tokens, count = 0.0, 0, 0
            for batch in self.batches:
                out = model(to_device(batch, device))
                for name, value in out.parts.items():
                    sums[name] = sums.get(name, 0.0) + value.sum().item()
                nll += out.nll_sum.sum().item()
                tokens += out.num_tokens.sum().item()
                count += out.nll_sum.shape[0]
            metrics = {f"valid/{name}": total / count for name, total in sums.items()}
            metrics["valid/token_ppl"] = float(torch.tensor(nll / tokens).exp())
            samples = []
            diffusion_model = hasattr(model, "encode_x0")  # a plain language model (the scorer) has only its loss
            if diffusion_model:
                inputs, outputs, _ = reconstruct_batches(
                    model, batches=self.batches, tokenizer=self.tokenizer, max_length=self.max_length
                )
                metrics["valid/reconstruction_bleu"] = corpus_bleu(outputs, inputs)
            if diffusion_model and self.num_generate > 0:
                generator = torch.Generator().manual_seed(self.seed)
                samples = generate_texts(
                    model, sampler=self.sampler, tokenizer=self.tokenizer, num_samples=self.num_generate,
                    batch_size=self.num_generate, generator=generator, max_length=self.max_length,
                ).texts
                metrics |= {f"valid/{name}": rate(samples) for name, rate in self.oracles.items()}
        model.train(was_training)
        return metrics, samples
