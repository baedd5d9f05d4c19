"""`dmlp score`: samples.jsonl → the project's metrics (README, "Metric definitions") → scores.json, with a
"definition" block beside the numbers saying what each one is (commands/score_definition.py)."""

import json
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from dmlp_cli.commands.score_definition import definition, samples_source, summary
from dmlp_cli.data.corpora import ToyCorpus
from dmlp_cli.data.jsonl import read_texts
from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.bleu import corpus_bleu
from dmlp_cli.evaluation.diversity import distinct_n, mean_unigram_entropy, repetition_rate, self_bleu
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate, syntax_valid_rate
from dmlp_cli.evaluation.mauve_score import INSTALL, mauve_available, mauve_score
from dmlp_cli.evaluation.probe import linear_probe_accuracy
from dmlp_cli.models.text_io import encode_texts, reconstruct_batches
from dmlp_cli.tracking.console import console, metrics_table
from dmlp_cli.training.checkpoint import load_checkpoint
from dmlp_cli.training.latent_cache import encode_posteriors
from dmlp_cli.training.loop import resolve_device


def _switch(cfg: DictConfig, key: str) -> str:
    """An auto | true | false option as that string (Hydra reads true/false as booleans)."""
    value = str(cfg[key]).lower()
    if value not in ("auto", "true", "false"):
        raise DmlpError(f"{key}={cfg[key]} is not one of auto, true, false")
    return value


def _uses_toy_grammar(setting: str, source: dict) -> bool:
    """`grammar=auto` scores validity when the samples' meta file says they come from a toy-corpus model."""
    if setting != "auto":
        return setting == "true"
    return source.get("dataset") == f"{ToyCorpus.__module__}.{ToyCorpus.__qualname__}"


def _uses_mauve(setting: str, *, has_references: bool, has_scorer: bool) -> bool:
    """MAUVE compares the samples with references= in the scorer's features, with the optional extra installed.
    `mauve=true` without one of them is an error; `mauve=auto` says in one line what is missing."""
    if setting == "false":
        return False
    missing = [what for what, there in (
        (f"the optional extra ({INSTALL})", mauve_available()),
        ("references=FILE (held-out real text)", has_references),
        ("a scorer= LM for the features", has_scorer),
    ) if not there]
    if not missing:
        return True
    if setting == "true":
        raise DmlpError(f"mauve=true needs {' and '.join(missing)}")
    console.print(f"MAUVE skipped: it needs {' and '.join(missing)} (mauve=false hides this line)", markup=False)
    return False


def _labels(path: str, *, field: str, count: int) -> list[int]:
    """The integer labels of the references, one per sentence, for the linear probe."""
    labels = read_texts(path, field=field)
    if len(labels) != count or not all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
        raise DmlpError(f"label_field={field}: every sentence of '{path}' needs an integer '{field}' "
                        f"(the linear probe's class); set label_field=null to skip the probe")
    return labels


def latent_metrics(*, ckpt: str, references: list[str], labels: list[int] | None, device: str,
                   batch_size: int) -> dict:
    """The checkpoint on held-out sentences: corpus BLEU of greedy decodes from the posterior mean μ(x) against the
    inputs x, and with labels the test accuracy of a linear probe on μ(x) (evaluation/probe.py's seeded split)."""
    checkpoint = load_checkpoint(ckpt, device=resolve_device(device))
    max_length = checkpoint.config.max_length
    batches, report = encode_texts(
        references, family=checkpoint.model.family, encoder_tokenizer=checkpoint.encoder_tokenizer, decoder_tokenizer=checkpoint.decoder_tokenizer,
        max_length=max_length, batch_size=batch_size,
    )
    console.print(f"[bold]references encoded[/bold] {report.summary()}")
    inputs, outputs, _ = reconstruct_batches(
        checkpoint.model, batches=batches, tokenizer=checkpoint.decoder_tokenizer, max_length=max_length
    )
    metrics = {"reconstruction_bleu": corpus_bleu(outputs, inputs)}
    if labels is not None:
        if checkpoint.model.family != "latent":
            raise DmlpError(f"label_field= probes one latent per sentence, and '{ckpt}' holds a "
                            f"{checkpoint.model.family}-family model; set label_field=null")
        means = encode_posteriors(checkpoint.model, batches, device=resolve_device(device)).means
        if len(means) != len(labels):
            raise DmlpError(f"{len(labels) - len(means)} references are empty once tokenized, so their labels "
                            "cannot be matched; remove the empty sentences")
        metrics["probe_accuracy"] = linear_probe_accuracy(means, torch.tensor(labels))
    return metrics


def score(cfg: DictConfig) -> dict:
    samples = Path(cfg.samples)
    texts = read_texts(samples, field=cfg.text_field)
    if len(texts) < 2:
        raise DmlpError(f"'{samples}' has {len(texts)} samples; scoring needs at least 2")
    grammar, mauve = _switch(cfg, "grammar"), _switch(cfg, "mauve")
    references = read_texts(cfg.references, field=cfg.text_field) if cfg.references is not None else None
    if references is not None and not references:
        raise DmlpError(f"references file '{cfg.references}' has no sentences; give held-out real sentences")
    if references is not None and cfg.scorer is None and cfg.ckpt is None:
        raise DmlpError("references= is scored with scorer= (their perplexity, the baseline for the samples') and/or "
                        "ckpt= (reconstruction BLEU); pass at least one")
    with_mauve = _uses_mauve(mauve, has_references=references is not None, has_scorer=cfg.scorer is not None)
    source = samples_source(samples)
    scores = {
        "num_samples": len(texts),
        "mean_length": sum(len(text.split()) for text in texts) / len(texts),
        "distinct_1": distinct_n(texts, n=1),
        "distinct_2": distinct_n(texts, n=2),
        "self_bleu": self_bleu(texts, max_samples=cfg.self_bleu_max_samples),
        "unigram_entropy": mean_unigram_entropy(texts),
        "rep_4": repetition_rate(texts, n=4),
    }
    if _uses_toy_grammar(grammar, source):
        scores["grammar_valid_rate"] = grammar_valid_rate(texts)
        scores["syntax_valid_rate"] = syntax_valid_rate(texts)
    if references is not None:
        scores["reference_count"] = len(references)
    scorer = instantiate(cfg.scorer) if cfg.scorer is not None else None
    if scorer is not None:
        result = scorer.perplexity(texts)
        scores |= {"perplexity": result.perplexity, "perplexity_tokens": result.total_tokens,
                   "perplexity_truncated": result.num_truncated}
        if references is not None:  # real text under the same scorer: what the samples' perplexity compares to
            baseline = scorer.perplexity(references)
            scores |= {"reference_perplexity": baseline.perplexity, "perplexity_ratio": result.perplexity / baseline.perplexity}
    if with_mauve:
        scores["mauve"] = mauve_score(scorer.features(references), scorer.features(texts))
    if cfg.label_field is not None and (references is None or cfg.ckpt is None):
        raise DmlpError("label_field= probes the latents of ckpt= on references=; pass both")
    if references is not None and cfg.ckpt is not None:
        labels = _labels(cfg.references, field=cfg.label_field, count=len(references)) if cfg.label_field else None
        scores |= latent_metrics(ckpt=cfg.ckpt, references=references, labels=labels, device=cfg.device,
                                 batch_size=cfg.batch_size)
    block = definition(scores=scores, samples=samples, source=source, references=cfg.references,
                       scorer=scorer.describe() if scorer is not None else None,
                       self_bleu_max_samples=cfg.self_bleu_max_samples)
    output = Path(cfg.output) if cfg.output else samples.with_name("scores.json")
    output.write_text(json.dumps({**scores, "definition": block}, indent=2))
    console.print(summary(block), markup=False)  # '[bos] text [eos]' is not rich markup
    console.print(metrics_table(scores, title=str(samples)))
    console.print(f"wrote {output}")
    return scores
