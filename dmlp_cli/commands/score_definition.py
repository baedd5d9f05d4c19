"""What the numbers of scores.json are: the definition block written beside them.

A perplexity means little without its scorer, its aggregation and the samples'
settings (the precision of the categorical draw alone moves it: models/decoding.py,
Zheng et al., 2024). So scores.json says, next to the
numbers: how each metric aggregates, which scorer LM (name, class, parameter
count, context), how many samples and references, and how the samples were drawn
(sampler, steps, top_p, decoding, checkpoint), read from `dmlp sample`'s
.meta.json beside them.
"""

import json
from pathlib import Path

# The settings of `dmlp sample`'s .meta.json that say how the samples were drawn.
SOURCE_KEYS = ("mode", "family", "ckpt", "step", "dataset", "sampler", "steps", "top_p", "clamp", "decoding",
               "decoding_options", "mbr", "max_length", "seed")


def samples_source(samples: Path) -> dict:
    """How the samples were drawn, from the .meta.json beside them; {} when there is none (samples from elsewhere)."""
    meta = samples.with_suffix(".meta.json")
    if not meta.is_file():
        return {}
    settings = json.loads(meta.read_text())
    return {key: settings[key] for key in SOURCE_KEYS if key in settings}


def metric_definitions(*, max_length: int | None, self_bleu_max_samples: int | None) -> dict[str, str]:
    """One line per metric of `dmlp score` (README, "Metric definitions"); texts are split on whitespace."""
    context = f"texts past the scorer's {max_length} positions are cut" if max_length else "no context limit"
    return {
        "mean_length": "mean number of whitespace words per sample",
        "distinct_1": "distinct unigrams / all unigrams, pooled over all samples",
        "distinct_2": "distinct bigrams / all bigrams, pooled over all samples",
        "self_bleu": "mean sentence BLEU (sacrebleu, 0-100, exp smoothing) of each sample against all the others"
                     + (f", at most {self_bleu_max_samples} seeded hypotheses" if self_bleu_max_samples else ""),
        "unigram_entropy": "mean over samples of the entropy (nats) of each sample's unigram distribution",
        "rep_4": "mean over samples of 1 - distinct 4-grams / all 4-grams within the sample (seq-rep-4, Welleck et "
                 "al., 2019); samples under 4 words left out",
        "grammar_valid_rate": "share of samples the toy grammar's exact parser accepts",
        "syntax_valid_rate": "share of samples the toy grammar accepts with its sentiment rules lifted",
        "perplexity": "token-level corpus perplexity under the scorer, exp(total NLL / total tokens); each text scored "
                      f"on its own as [bos] text [eos], eos scored, bos context only; {context} (perplexity_truncated "
                      "counts them)",
        "reference_perplexity": "the same perplexity of the references",
        "perplexity_ratio": "perplexity / reference_perplexity",
        "mauve": "MAUVE (Pillutla et al., 2021) of the samples against the references; features: the scorer's last "
                 "hidden state at each text's last token ([bos] text); max(2, round(min(n, m) / 10)) k-means "
                 "clusters, c = 5, seed 25",
        "reconstruction_bleu": "corpus BLEU (sacrebleu, tokenize none) of greedy decodes of ckpt's posterior mean of "
                               "each reference, against the references",
        "probe_accuracy": "test accuracy of a logistic-regression probe on ckpt's posterior means of the references "
                          "for their label_field (seeded 80/20 split, standardised features; evaluation/probe.py)",
    }


def definition(
    *, scores: dict, samples: Path, source: dict, references: str | None, scorer: dict | None,
    self_bleu_max_samples: int | None,
) -> dict:
    """The block written as scores.json's "definition": the metrics present, their inputs and the scorer."""
    definitions = metric_definitions(max_length=scorer and scorer["max_length"],
                                     self_bleu_max_samples=self_bleu_max_samples)
    return {
        "samples": {"path": str(samples), "count": scores["num_samples"], "drawn_with": source or None},
        "references": {"path": references, "count": scores.get("reference_count")} if references else None,
        "scorer": scorer,
        "metrics": {name: text for name, text in definitions.items() if name in scores},
    }


def _class_name(target: str | None) -> str | None:
    return target.rsplit(".", 1)[-1] if target else None


def _drawn_with(source: dict) -> str:
    """'ddpm 200 steps top_p 0.9, decoding greedy' or 'causal_lm, decoding sampling (temperature 1.0)'."""
    if not source:
        return "settings unknown (no .meta.json beside the samples)"
    options = ", ".join(f"{key} {value}" for key, value in (source.get("decoding_options") or {}).items()
                        if value is not None)
    drawn = [_class_name(source.get("sampler")) or source.get("family"),
             f"{source['steps']} steps" if source.get("steps") else None,
             f"top_p {source['top_p']}" if source.get("top_p") is not None else None]
    decoding = f"decoding {_class_name(source.get('decoding'))}" + (f" ({options})" if options else "")
    return " ".join(part for part in drawn if part) + f", {decoding}, from {source.get('ckpt')}"


def summary(block: dict) -> str:
    """One line for the console: what was scored, how it was drawn, and under which scorer."""
    line = f"{block['samples']['count']} samples: {_drawn_with(block['samples']['drawn_with'] or {})}"
    scorer = block["scorer"]
    if scorer is not None:
        line += (f"; perplexity: token-level corpus perplexity under {scorer['name_or_path']} ({scorer['architecture']}, "
                 f"{scorer['parameters']:,} parameters), each text scored on its own as [bos] text [eos]")
    if block["references"] is not None:
        line += f"; {block['references']['count']} references"
    return line
