import math
import random

import pytest
import sacrebleu

from dmlp_cli.evaluation.diversity import distinct_n, mean_unigram_entropy, repetition_rate, self_bleu

# Unigrams: a b a b | a c | d -> 7 in total, distinct {a, b, c, d} = 4 -> distinct-1 = 4/7.
# Bigrams: (a b) (b a) (a b) | (a c) | none -> 4 in total, distinct {ab, ba, ac} = 3 -> distinct-2 = 3/4.
TEXTS = ["a b a b", "a c", "d"]


def test_distinct_n_hand_computed():
    assert distinct_n(TEXTS, n=1) == pytest.approx(4 / 7)
    assert distinct_n(TEXTS, n=2) == pytest.approx(3 / 4)


def test_distinct_n_without_ngrams_is_zero():
    assert distinct_n(["a", "b"], n=2) == 0.0
    assert distinct_n([], n=1) == 0.0


def test_distinct_n_rejects_n_below_one():
    with pytest.raises(ValueError, match="n >= 1"):
        distinct_n(TEXTS, n=0)


def _sacrebleu_self_bleu(texts, hypotheses):
    """The definition, written the slow way: one sacrebleu call per hypothesis."""
    scores = [
        sacrebleu.sentence_bleu(texts[i], texts[:i] + texts[i + 1 :], tokenize="none").score for i in hypotheses
    ]
    return sum(scores) / len(scores)


def _random_texts(count, seed):
    rng = random.Random(seed)
    vocab = "a b c d e f".split()
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(count)]


def test_self_bleu_identical_texts_is_100():
    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(100.0)


def test_self_bleu_disjoint_vocabularies_is_zero():
    assert self_bleu(["a b c d", "e f g h", "i j k l"]) == pytest.approx(0.0, abs=1e-9)


def test_self_bleu_equals_per_sample_sacrebleu():
    # Random short texts over 6 words: repeated n-grams, shared owners of the top count,
    # equal lengths, and empty texts all occur, and duplicate texts are added on purpose.
    texts = _random_texts(40, seed=1)
    texts += texts[:3]
    assert self_bleu(texts) == pytest.approx(_sacrebleu_self_bleu(texts, range(len(texts))), abs=1e-9)


def test_self_bleu_subset_is_seeded_and_uses_all_other_references():
    texts = _random_texts(30, seed=2)
    subset = random.Random(7).sample(range(len(texts)), 10)
    score = self_bleu(texts, max_samples=10, seed=7)
    assert score == self_bleu(texts, max_samples=10, seed=7)
    assert score == pytest.approx(_sacrebleu_self_bleu(texts, subset), abs=1e-9)
    assert self_bleu(texts, max_samples=None) == self_bleu(texts, max_samples=30)


def test_self_bleu_needs_two_texts():
    with pytest.raises(ValueError, match="at least 2 texts"):
        self_bleu(["only one"])


def test_mean_unigram_entropy_hand_computed():
    # "a a b b": p = (1/2, 1/2) -> ln 2; "a a a": p = (1) -> 0.
    assert mean_unigram_entropy(["a a b b"]) == pytest.approx(math.log(2))
    assert mean_unigram_entropy(["a a a"]) == pytest.approx(0.0)
    assert mean_unigram_entropy(["a a b b", "a a a"]) == pytest.approx(math.log(2) / 2)


def test_mean_unigram_entropy_needs_texts():
    with pytest.raises(ValueError, match="no texts"):
        mean_unigram_entropy([])


def test_repetition_rate_hand_computed():
    # "a b a b a b": 4-grams (a b a b) (b a b a) (a b a b) -> 3, distinct 2 -> 1 - 2/3 = 1/3.
    # "a b c d e": (a b c d) (b c d e), both distinct -> 0.  "a b": no 4-gram, left out.  Mean (1/3 + 0) / 2.
    assert repetition_rate(["a b a b a b", "a b c d e", "a b"]) == pytest.approx(1 / 6)
    # 8 words -> 5 4-grams, (the food was great) twice -> 4 distinct -> 1 - 4/5.
    assert repetition_rate(["the food was great the food was great"]) == pytest.approx(1 / 5)
    assert repetition_rate(["a a b"], n=1) == pytest.approx(1 / 3)  # unigrams a a b: 2 distinct of 3


def test_repetition_rate_without_ngrams_is_zero_and_n_must_be_positive():
    assert repetition_rate(["a b c"]) == 0.0 and repetition_rate([]) == 0.0
    with pytest.raises(ValueError, match="n >= 1"):
        repetition_rate(["a b"], n=0)
