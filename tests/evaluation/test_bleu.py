import math

import pytest
import sacrebleu

from dmlp_cli.evaluation.bleu import corpus_bleu


def test_identical_hypotheses_score_100():
    texts = ["the cat sat on the mat", "a dog ran away ."]
    assert corpus_bleu(texts, texts) == pytest.approx(100.0)


def test_hand_checked_single_pair():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat", both 6 tokens so BP = 1:
    # 1-grams 5/6 (all but the second "the"), 2-grams 3/5 (the cat, cat sat, sat on),
    # 3-grams 2/4 (the cat sat, cat sat on), 4-grams 1/3 (the cat sat on)
    # BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * (1/12) ** 0.25 = 53.728...
    hyp, ref = "the cat sat on the mat", "the cat sat on a mat"
    expected = 100 * (1 / 12) ** 0.25
    assert corpus_bleu([hyp], [ref]) == pytest.approx(expected)
    assert corpus_bleu([hyp], [ref]) == pytest.approx(sacrebleu.corpus_bleu([hyp], [[ref]], tokenize="none").score)


def test_matches_sacrebleu_on_a_pooled_corpus():
    hyps = ["the cat sat on the mat", "a dog ran", "birds fly over the hills today"]
    refs = ["the cat sat on a mat", "a dog ran away", "birds fly over hills"]
    expected = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score
    assert corpus_bleu(hyps, refs) == pytest.approx(expected)
    assert not math.isclose(expected, 100.0)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a b", "c d"], ["a b"])


def test_empty_input_raises():
    with pytest.raises(ValueError, match="no hypotheses"):
        corpus_bleu([], [])
