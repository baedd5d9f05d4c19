"""Scores generated text against the built-in toy grammar.

Why: with the embedded toy default, the grammar is the ground truth, so the
fraction of samples it accepts says whether training worked, and agreement of
the parsed sentiment with the requested label says whether conditioning works.
Both are exact (the grammar parses, it does not look sentences up).
"""

from collections.abc import Sequence

from dmlp_cli.data.toy_grammar import ToyGrammar


def _check_texts(texts: Sequence[str], *, metric: str) -> None:
    if isinstance(texts, str):
        raise TypeError(f"{metric} expects a sequence of texts, got a single string")
    if len(texts) == 0:
        raise ValueError(f"{metric} needs at least one text; got none, so there is no rate to report")


def grammar_valid_rate(texts: Sequence[str], *, grammar: ToyGrammar | None = None) -> float:
    """Fraction of texts in the grammar's language: the toy default's measure of sample quality."""
    _check_texts(texts, metric="grammar_valid_rate")
    grammar = grammar or ToyGrammar()
    return sum(grammar.is_valid(text) for text in texts) / len(texts)


def syntax_valid_rate(texts: Sequence[str], *, grammar: ToyGrammar | None = None) -> float:
    """Fraction of texts valid once the sentiment rules are lifted ("and" joining opposite sentiments is fine):
    next to grammar_valid_rate it says whether a model misses the syntax or the cross-clause semantics."""
    _check_texts(texts, metric="syntax_valid_rate")
    grammar = grammar or ToyGrammar()
    return sum(grammar.is_valid(text, sentiment_rules=False) for text in texts) / len(texts)


def label_agreement(texts: Sequence[str], labels: Sequence[int], *, grammar: ToyGrammar | None = None) -> float:
    """Fraction of texts that are valid and whose parsed sentiment equals the requested label (conditional generation)."""
    _check_texts(texts, metric="label_agreement")
    if len(texts) != len(labels):
        raise ValueError(f"label_agreement got {len(texts)} texts but {len(labels)} labels; they must pair up one to one")
    grammar = grammar or ToyGrammar()
    return sum(grammar.parse(text) == label for text, label in zip(texts, labels)) / len(texts)
