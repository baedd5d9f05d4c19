import random

import pytest

from dmlp_cli.data import toy_grammar as tg
from dmlp_cli.data.toy_grammar import ToyGrammar
from dmlp_cli.errors import DmlpError

GRAMMAR = ToyGrammar()


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return GRAMMAR.generate(num_sentences=20000, seed=0)


def test_same_seed_gives_same_corpus_and_other_seed_differs():
    assert GRAMMAR.generate(num_sentences=200, seed=7) == GRAMMAR.generate(num_sentences=200, seed=7)
    assert GRAMMAR.generate(num_sentences=200, seed=7) != GRAMMAR.generate(num_sentences=200, seed=8)


def test_corpus_is_pinned_across_machines():
    # The corpus depends only on the seed and the word lists; a change here means every toy run's data changed.
    assert [r["text"] for r in GRAMMAR.generate(num_sentences=3, seed=0)] == [
        "we will gladly go back and the burgers and the patio were superb and quite polite .",
        "my owner was absolutely great and memorable .",
        "i did not like our fish .",
    ]


def test_generate_uses_no_global_random_state():
    random.seed(1)
    first = GRAMMAR.generate(num_sentences=50, seed=3)
    random.seed(2)
    assert GRAMMAR.generate(num_sentences=50, seed=3) == first


def test_records_have_text_and_balanced_binary_labels(corpus):
    sample = corpus[:2000]
    assert all(set(r) == {"text", "label"} and isinstance(r["text"], str) for r in sample)
    assert {r["label"] for r in sample} == {0, 1}
    assert 0.45 < sum(r["label"] for r in sample) / len(sample) < 0.55


def test_generate_edge_sizes():
    assert GRAMMAR.generate(num_sentences=0, seed=0) == []
    with pytest.raises(DmlpError, match="num_sentences"):
        GRAMMAR.generate(num_sentences=-1, seed=0)


def test_every_sample_parses_to_its_label(corpus):
    for record in corpus[:5000]:
        assert GRAMMAR.parse(record["text"]) == record["label"], record["text"]


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("the pasta was great and the waiters were friendly .", 1),
        ("the fries were cold but the waiter was nice .", 1),
        ("the fries were cold , but the waiter was nice !", 1),
        ("the pasta and the fries were really great .", 1),
        ("this pasta and these fries are fresh and very tasty .", 1),
        ("the service was slow and rude and the food was cold .", 0),
        ("i loved the tacos but we will never come back .", 0),
        ("we did not enjoy this soup .", 0),
        ("we will definitely come back here .", 1),
        ("we will return .", 1),
        ("i would not recommend these wings .", 0),
        ("it was an awful meal .", 0),
        ("it was a really awful meal .", 0),
        ("this is an incredibly great spot !", 1),
        ("  the  pasta was great .  ", 1),
    ],
)
def test_hand_written_sentences_are_accepted_with_their_label(sentence, label):
    assert GRAMMAR.parse(sentence) == label
    assert GRAMMAR.is_valid(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "the fries was cold .",  # plural subject, singular verb
        "the pasta were great .",  # singular subject, plural verb
        "the pasta and the bread was fresh .",  # compound subject is plural
        "these pasta was great .",  # determiner/noun number
        "this fries were cold .",
        "the pasta was great and the fries were cold .",  # "and" between opposite sentiments
        "the pasta was great but the fries were tasty .",  # "but" between same sentiments
        "the pasta was great and cold .",  # adjective pair of mixed sentiment
        "the pasta was great , and the fries were tasty .",  # comma only before "but"
        "the pasta was yummilicious .",  # unknown word
        "The pasta was great .",  # not lowercase
        "the pasta was great, and the fries were fresh .",  # punctuation glued to a word
        "the pasta was great",  # missing final punctuation
        "the pasta was great . .",
        "the pasta was .",  # truncated
        "the pasta was great and .",
        "i loved .",
        ".",
        "",
        "   ",
        "the the pasta was great .",  # doubled words
        "the pasta was really really great .",
        "the pasta was great great .",
        "it was a awful meal .",  # a/an
        "it was an great meal .",
        "it was an really awful meal .",
        "it was a so great meal .",  # adverb that does not read after an article
        "we will not definitely come back .",
        "i will come back here again .",
        "the pasta was great and the fries were tasty and the soup was fresh .",  # at most two clauses
    ],
)
def test_near_misses_are_rejected(sentence):
    assert GRAMMAR.parse(sentence) is None
    assert not GRAMMAR.is_valid(sentence)


def test_word_classes_do_not_overlap():
    # Overlaps would make agreement or sentiment ambiguous, so the lists must stay disjoint.
    assert not set(tg.SINGULAR_NOUNS) & set(tg.PLURAL_NOUNS)
    assert not set(tg.POSITIVE_ADJECTIVES) & set(tg.NEGATIVE_ADJECTIVES)
    assert not set(tg.ADVERBS) & (set(tg.POSITIVE_ADJECTIVES) | set(tg.NEGATIVE_ADJECTIVES))
    assert set(tg.ARTICLE_ADVERBS) <= set(tg.ADVERBS)
    for words in (tg.SINGULAR_NOUNS, tg.PLURAL_NOUNS, tg.POSITIVE_ADJECTIVES, tg.NEGATIVE_ADJECTIVES, tg.ADVERBS):
        assert len(set(words)) == len(words)


def test_vocabulary_is_sorted_sized_and_exactly_what_samples_use(corpus):
    vocabulary = GRAMMAR.vocabulary
    assert vocabulary == sorted(set(vocabulary))
    assert 200 <= len(vocabulary) <= 400
    assert {token for record in corpus for token in record["text"].split()} == set(vocabulary)


def test_language_size_lower_bound_is_far_above_a_million():
    # One family of distinct valid sentences: "NP_sg COPULA [ADV] ADJ+ and NP_pl COPULA [ADV] ADJ+ ."
    singular_nps = [
        (det, noun)
        for det in (tg.DEFAULT_DETERMINER,) + tg.SHARED_DETERMINERS + tg.SINGULAR_DETERMINERS
        for noun in tg.SINGULAR_NOUNS
    ]
    plural_nps = [
        (det, noun) for det in (tg.DEFAULT_DETERMINER,) + tg.SHARED_DETERMINERS + tg.PLURAL_DETERMINERS for noun in tg.PLURAL_NOUNS
    ]
    adjective_phrases = [(adv,) for adv in tg.ADVERBS] + [()]
    adjective_phrases = [adv + (adj,) for adv in adjective_phrases for adj in tg.POSITIVE_ADJECTIVES]
    rng = random.Random(0)
    for _ in range(300):
        sentence = (
            rng.choice(singular_nps) + (rng.choice(tg.SINGULAR_COPULAS),) + rng.choice(adjective_phrases) + ("and",)
            + rng.choice(plural_nps) + (rng.choice(tg.PLURAL_COPULAS),) + rng.choice(adjective_phrases) + (".",)
        )
        assert GRAMMAR.parse(" ".join(sentence)) == 1
    size = (
        len(singular_nps) * len(tg.SINGULAR_COPULAS) * len(adjective_phrases)
        * len(plural_nps) * len(tg.PLURAL_COPULAS) * len(adjective_phrases)
    )
    assert size == 38_720_000_000
    assert size > 1e6


def test_lengths_and_duplicates(corpus):
    lengths = [len(record["text"].split()) for record in corpus]
    assert 7 <= sum(lengths) / len(lengths) <= 14
    assert min(lengths) >= 4 and max(lengths) <= 25
    assert all(record["text"] == " ".join(record["text"].split()) for record in corpus)
    assert 1 - len({record["text"] for record in corpus}) / len(corpus) < 0.05
