"""Diversity of generated samples: distinct-n, self-BLEU, mean unigram entropy, repetition (rep-n).

Perplexity alone rewards degenerate samples (the same safe sentence, or one
token repeated), so these metrics are reported next to it. All of them split
texts on whitespace, with sacrebleu's n-gram extractor, so an n-gram means the
same thing here as in BLEU.
"""

import math
import random
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence

from sacrebleu.metrics import BLEU
from sacrebleu.metrics.helpers import extract_all_word_ngrams

_BLEU_ORDER = 4


def distinct_n(texts: Sequence[str], *, n: int) -> float:
    """Distinct-n = |distinct n-grams| / |n-grams|, pooled over all samples.

    1.0 means no n-gram ever repeats; a model stuck on one phrase tends to 0.
    Samples shorter than n contribute nothing; with no n-grams at all it is 0.0.
    """
    if n < 1:
        raise ValueError(f"distinct_n needs n >= 1, got n={n}")
    pooled = Counter()
    for text in texts:
        pooled.update(extract_all_word_ngrams(text, n, n)[0])
    total = sum(pooled.values())
    return len(pooled) / total if total else 0.0


def self_bleu(texts: Sequence[str], *, max_samples: int | None = 1000, seed: int = 0) -> float:
    """Self-BLEU (0-100): mean sentence BLEU of each sample against all the others.

        self-BLEU = mean_i sentence_bleu(texts[i], references = texts[j != i])

    with sacrebleu's `sentence_bleu` settings: tokenize "none", smoothing "exp"
    (NIST: the k-th zero n-gram precision counts as 1 / (2^k * total)), and
    effective order. High self-BLEU means the samples copy each other.

    Calling sacrebleu once per sample would re-read all n other samples each
    time, O(n^2) (about a minute for 1000 samples). Instead every sample's n-gram
    counts are read once, keeping for each n-gram its two largest counts and the
    owner of the largest: the clipping count "max over the other samples" is then
    the second count for the owner and the first for everyone else. The closest
    other reference length comes from the sorted lengths. The statistics are the
    ones sacrebleu would collect, and `BLEU.compute_bleu` turns them into the
    score, so the result equals the per-sample sacrebleu loop.

    If there are more than `max_samples` texts, a seeded random subset of
    `max_samples` of them are the hypotheses; the references are still all the
    other texts, so the subset only adds sampling noise to the mean.
    """
    if len(texts) < 2:
        raise ValueError(f"self_bleu needs at least 2 texts, got {len(texts)}")
    counts = [extract_all_word_ngrams(text, 1, _BLEU_ORDER) for text in texts]
    top_two: dict[tuple[str, ...], tuple[int, int, int]] = {}
    for owner, (ngrams, _) in enumerate(counts):
        for ngram, count in ngrams.items():
            first, first_owner, second = top_two.get(ngram, (0, -1, 0))
            if count > first:
                top_two[ngram] = (count, owner, first)
            elif count > second:
                top_two[ngram] = (first, first_owner, count)
    sorted_lengths = sorted(length for _, length in counts)

    hypotheses = range(len(texts))
    if max_samples is not None and len(texts) > max_samples:
        hypotheses = random.Random(seed).sample(hypotheses, max_samples)

    scores = []
    for index in hypotheses:
        ngrams, hyp_len = counts[index]
        correct = [0] * _BLEU_ORDER
        total = [0] * _BLEU_ORDER
        for ngram, count in ngrams.items():
            first, first_owner, second = top_two[ngram]
            total[len(ngram) - 1] += count
            correct[len(ngram) - 1] += min(count, second if first_owner == index else first)
        lo, hi = bisect_left(sorted_lengths, hyp_len), bisect_right(sorted_lengths, hyp_len)
        other_lengths = sorted_lengths[max(lo - 1, 0) : lo] + sorted_lengths[lo + 1 : hi + 1]
        ref_len = min(other_lengths, key=lambda length: (abs(hyp_len - length), length))
        score = BLEU.compute_bleu(
            correct, total, hyp_len, ref_len, smooth_method="exp", effective_order=True, max_ngram_order=_BLEU_ORDER
        )
        scores.append(score.score)
    return sum(scores) / len(scores)


def mean_unigram_entropy(texts: Sequence[str]) -> float:
    """Mean over samples of the entropy (nats) of each sample's unigram distribution.

        H(x) = -sum_w p(w) ln p(w),   p(w) = count of token w in x / number of tokens in x

    Degenerate repetitive samples get a low perplexity but also a low entropy
    ("a a a" has 0, "a a b b" has ln 2), which is why it is reported next to
    perplexity. An empty sample has entropy 0.
    """
    if not texts:
        raise ValueError("mean_unigram_entropy got no texts; pass at least one sample")
    entropies = []
    for text in texts:
        unigrams, length = extract_all_word_ngrams(text, 1, 1)
        entropies.append(-sum(count / length * math.log(count / length) for count in unigrams.values()))
    return sum(entropies) / len(entropies)


def repetition_rate(texts: Sequence[str], *, n: int = 4) -> float:
    """rep-n: the share of a sample's n-grams that repeat an n-gram earlier in the same sample, averaged over samples
    (seq-rep-n of Welleck et al., 2019, "Neural Text Generation with Unlikelihood Training"):

        rep-n = mean_x (1 - |distinct n-grams of x| / |n-grams of x|)

    Unlike distinct-n, which pools all samples, it sees loops within one sample ("the food was great the food was
    great" has rep-4 = 1/5) and not samples that copy each other (that is self-BLEU). Samples shorter than n words
    have no n-grams and are left out of the mean; with none left it is 0.0.
    """
    if n < 1:
        raise ValueError(f"repetition_rate needs n >= 1, got n={n}")
    rates = []
    for text in texts:
        ngrams, _ = extract_all_word_ngrams(text, n, n)
        total = sum(ngrams.values())
        if total:
            rates.append(1 - len(ngrams) / total)
    return sum(rates) / len(rates) if rates else 0.0
