import pytest

from dmlp_cli.data.toy_grammar import ToyGrammar
from dmlp_cli.evaluation.grammar_oracle import grammar_valid_rate, label_agreement, syntax_valid_rate

POSITIVE = "the pasta was great ."
NEGATIVE = "i hated the fries ."
AGREEMENT_ERROR = "the fries was cold ."
GIBBERISH = "pasta pasta pasta"


def test_grammar_valid_rate_on_a_hand_counted_list():
    assert grammar_valid_rate([POSITIVE, NEGATIVE, AGREEMENT_ERROR, GIBBERISH]) == 0.5
    assert grammar_valid_rate([POSITIVE, NEGATIVE]) == 1.0
    assert grammar_valid_rate([GIBBERISH, ""]) == 0.0
    assert grammar_valid_rate([POSITIVE, AGREEMENT_ERROR, GIBBERISH], grammar=ToyGrammar()) == pytest.approx(1 / 3)


def test_grammar_valid_rate_is_one_on_the_grammars_own_samples():
    texts = [record["text"] for record in ToyGrammar().generate(num_sentences=500, seed=3)]
    assert grammar_valid_rate(texts) == 1.0


def test_syntax_valid_rate_lifts_only_the_sentiment_rules():
    wrong_conjunction = "the pasta was great and i hated the fries ."   # "and" across opposite sentiments
    wrong_but = "the pasta was great but we loved the tacos !"          # "but" across the same sentiment
    mixed_adjectives = "the fries were cold and delicious ."            # an adjective pair of mixed sentiment
    texts = [POSITIVE, wrong_conjunction, wrong_but, mixed_adjectives, AGREEMENT_ERROR, GIBBERISH]
    assert grammar_valid_rate(texts) == pytest.approx(1 / 6)
    assert syntax_valid_rate(texts) == pytest.approx(4 / 6)  # agreement errors and gibberish stay invalid
    assert ToyGrammar().parse(wrong_conjunction, sentiment_rules=False) == 0  # the label is the last clause's


def test_label_agreement_counts_valid_texts_with_the_requested_label():
    texts = [POSITIVE, NEGATIVE, NEGATIVE, AGREEMENT_ERROR]
    # positive asked positive: yes; negative asked negative: yes; negative asked positive: no; invalid: no.
    assert label_agreement(texts, [1, 0, 1, 0]) == 0.5
    assert label_agreement([POSITIVE, NEGATIVE], [1, 0], grammar=ToyGrammar()) == 1.0
    assert label_agreement([AGREEMENT_ERROR], [0]) == 0.0


def test_label_agreement_is_one_on_the_grammars_own_labelled_samples():
    records = ToyGrammar().generate(num_sentences=500, seed=4)
    assert label_agreement([r["text"] for r in records], [r["label"] for r in records]) == 1.0


def test_empty_or_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="at least one text"):
        grammar_valid_rate([])
    with pytest.raises(ValueError, match="at least one text"):
        label_agreement([], [])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        label_agreement([POSITIVE, NEGATIVE], [1])
    with pytest.raises(TypeError, match="single string"):
        grammar_valid_rate(POSITIVE)
