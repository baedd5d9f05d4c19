"""Evaluation during training: held-out losses, reconstruction BLEU, and a few generated samples."""

from collections.abc import Callable, Sequence

import torch

from dmlp_cli.data.collate import collated_batches
from dmlp_cli.diffusion.samplers import AncestralSampler
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.bleu import corpus_bleu
from dmlp_cli.models.joint import JointLatentDiffusion
from dmlp_cli.models.text_io import generate_texts, reconstruct_batches


class Validator:
    """Runs on fixed held-out batches with its own RNG, so evaluating never changes the training run."""

    def __init__(
        self, *, dataset, collator, decoder_tokenizer, sampler: AncestralSampler, num_reconstruct: int = 256,
        num_generate: int = 64, batch_size: int = 128, max_length: int = 64,
        oracles: dict[str, Callable[[Sequence[str]], float]] | None = None, seed: int = 0,
    ):
        self.batches = collated_batches(dataset, collator=collator, batch_size=batch_size, limit=num_reconstruct)
        if not self.batches:
            raise DmlpError("the validation split is empty; give the dataset a valid split or more data")
        self.tokenizer, self.sampler = decoder_tokenizer, sampler
        self.num_generate, self.max_length, self.seed = num_generate, max_length, seed
        self.oracles = oracles or {}  # name -> rate of generated samples (the toy grammar's valid rates)

    @torch.no_grad()
    def __call__(self, model: JointLatentDiffusion) -> tuple[dict, list[str]]:
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            totals = {"reconstruction": 0.0, "diffusion": 0.0, "nll": 0.0, "tokens": 0, "count": 0}
            for batch in self.batches:
                out = model({key: value.to(device) for key, value in batch.items() if torch.is_tensor(value)})
                totals["reconstruction"] += out.reconstruction.sum().item()
                totals["diffusion"] += out.diffusion.sum().item()
                totals["nll"] += out.nll_sum.sum().item()
                totals["tokens"] += out.num_tokens.sum().item()
                totals["count"] += out.reconstruction.shape[0]
            inputs, outputs, _ = reconstruct_batches(
                model, batches=self.batches, tokenizer=self.tokenizer, max_length=self.max_length
            )
            metrics = {
                "valid/reconstruction": totals["reconstruction"] / totals["count"],
                "valid/diffusion": totals["diffusion"] / totals["count"],
                "valid/token_ppl": float(torch.tensor(totals["nll"] / totals["tokens"]).exp()),
                "valid/reconstruction_bleu": corpus_bleu(outputs, inputs),
            }
            samples = []
            if self.num_generate > 0:
                generator = torch.Generator().manual_seed(self.seed)
                samples = generate_texts(
                    model, sampler=self.sampler, tokenizer=self.tokenizer, num_samples=self.num_generate,
                    batch_size=self.num_generate, generator=generator, max_length=self.max_length,
                ).texts
                metrics |= {f"valid/{name}": rate(samples) for name, rate in self.oracles.items()}
        model.train(was_training)
        return metrics, samples
