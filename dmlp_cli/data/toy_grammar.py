"""A built-in probabilistic grammar of short restaurant reviews, and its exact membership oracle.

Why: the embedded default trains offline on CPU in minutes, so it needs data
that ships with the code, and a way to tell whether training worked. Sentences
from this grammar look like the Yelp short-review corpus (lowercase, tokens
split by single spaces, punctuation as its own token) and obey rules a model
has to learn; the parser below then decides exactly whether a generated
sentence obeys them.

The language (NP = noun phrase, ADJ = adjective, [x] = optional):

    sentence   := clause END | clause "and" clause END | clause ["," ] "but" clause END
    END        := "." | "!"
    clause     := description | opinion | intention | verdict
    description:= subject COPULA adjp           "the fries were cold", "the pasta and the bread are really fresh"
    subject    := NP | NP "and" NP              a compound subject is plural
    NP         := DET NOUN                      "this" only before a singular noun, "these" only before a plural one
    COPULA     := "was" | "is" (singular subject) ; "were" | "are" (plural subject)
    adjp       := [ADV] ADJ [ "and" [ADV] ADJ ] both adjectives of the same sentiment
    opinion    := PRONOUN VERB NP               "i loved the tacos", "we did not enjoy this soup"
    intention  := PRONOUN MODAL [CERTAINTY] ACTION   (positive)  "we will definitely come back"
                | PRONOUN MODAL NEGATION ACTION      (negative)  "i would never recommend the pizza"
    ACTION     := RETURN [RETURN_ENDING] | "recommend" NP
    verdict    := ("it" | "this") ("was" | "is") ("a" | "an") [ARTICLE_ADV] ADJ OCCASION
                  "an" exactly when the next word starts with a vowel letter: "an awful meal", "a really great spot"

Sentiment: a description or verdict clause has its adjectives' sentiment, an
opinion clause its verb's, an intention clause is negative exactly when it
has "not"/"never". "and" joins clauses of the same sentiment, "but" clauses of
opposite sentiment, and the sentence's label (1 positive, 0 negative) is the
sentiment of its last clause.
"""

import random
from collections.abc import Iterator

from dmlp_cli.errors import DmlpError

SINGULAR_NOUNS = (
    "pasta", "pizza", "burger", "soup", "salad", "steak", "chicken", "coffee", "dessert", "bread",
    "sauce", "rice", "fish", "sushi", "sandwich", "burrito", "food", "service", "atmosphere", "ambiance",
    "decor", "music", "menu", "waiter", "waitress", "server", "bartender", "manager", "owner", "hostess",
    "wine", "beer", "tea", "cake", "pie", "cheesecake", "lasagna", "risotto", "omelette", "brisket",
    "curry", "ramen", "salmon", "bacon", "lobster", "patio", "bar", "crust", "place", "restaurant",
)
PLURAL_NOUNS = (
    "fries", "tacos", "wings", "noodles", "drinks", "prices", "portions", "waiters", "servers", "desserts",
    "appetizers", "cocktails", "pancakes", "waffles", "dumplings", "nachos", "burgers", "sandwiches", "salads", "pastries",
    "cookies", "donuts", "bagels", "oysters", "ribs", "meatballs", "potatoes", "beans", "veggies", "chips",
    "sides", "sauces", "tables", "booths", "bartenders", "waitresses", "cupcakes", "eggs", "mussels", "scallops",
)
SINGULAR_DETERMINERS = ("this",)
PLURAL_DETERMINERS = ("these",)
DEFAULT_DETERMINER = "the"
SHARED_DETERMINERS = ("our", "my")
POSITIVE_ADJECTIVES = (
    "great", "delicious", "amazing", "fresh", "friendly", "excellent", "awesome", "tasty", "perfect", "wonderful",
    "fantastic", "nice", "good", "attentive", "helpful", "clean", "cozy", "reasonable", "outstanding", "superb",
    "lovely", "incredible", "authentic", "flavorful", "generous", "juicy", "crispy", "tender", "warm", "welcoming",
    "polite", "quick", "efficient", "professional", "affordable", "beautiful", "charming", "pleasant", "solid", "spectacular",
    "phenomenal", "yummy", "impressive", "courteous", "creative", "memorable", "terrific", "stellar", "enjoyable", "satisfying",
)
NEGATIVE_ADJECTIVES = (
    "cold", "bland", "rude", "slow", "terrible", "awful", "greasy", "dirty", "overpriced", "soggy",
    "stale", "horrible", "disgusting", "mediocre", "bad", "poor", "salty", "dry", "burnt", "undercooked",
    "overcooked", "tasteless", "inedible", "gross", "rubbery", "lukewarm", "tough", "watery", "oily", "sloppy",
    "unfriendly", "inattentive", "careless", "disappointing", "expensive", "loud", "noisy", "cramped", "sticky", "smelly",
    "filthy", "forgettable", "unprofessional", "dreadful", "lousy", "subpar", "mushy", "boring", "messy", "incompetent",
)
ADVERBS = ("really", "very", "so", "super", "pretty", "quite", "extremely", "incredibly", "absolutely", "truly")
ARTICLE_ADVERBS = ("really", "pretty", "extremely", "incredibly", "absolutely", "truly")  # read well after "a"/"an"
OCCASION_NOUNS = (
    "place", "meal", "experience", "spot", "dinner", "lunch", "brunch", "visit", "evening", "night", "restaurant", "find",
)
PRONOUNS = ("i", "we")
POSITIVE_VERBS = ("loved", "liked", "enjoyed", "adored", "really liked", "really enjoyed", "really loved")
NEGATIVE_VERBS = ("hated", "disliked", "did not like", "did not enjoy", "could not stand")
MODALS = ("will", "would")
CERTAINTY_ADVERBS = ("definitely", "certainly", "happily", "gladly")
NEGATIONS = ("not", "never")
RETURN_PHRASES = ("come back", "go back", "return")
RETURN_ENDINGS = ("here", "again")
VERDICT_SUBJECTS = ("it", "this")
VERDICT_COPULAS = ("was", "is")
SINGULAR_COPULAS = ("was", "is")
PLURAL_COPULAS = ("were", "are")
ENDINGS = (".", "!")
VOWELS = "aeiou"

# Production probabilities; every choice keeps each option at >= 2% so a small model sees all of them often.
CLAUSE_KINDS = ("description", "opinion", "intention", "verdict")
CLAUSE_WEIGHTS = (0.5, 0.2, 0.15, 0.15)
P_TWO_CLAUSES = 0.65
P_BUT = 0.5
P_COMMA_BEFORE_BUT = 0.3
P_EXCLAMATION = 0.2
P_COMPOUND_SUBJECT = 0.15
P_THE = 0.6
P_ADVERB = 0.35
P_ADJECTIVE_PAIR = 0.2
P_PRESENT_TENSE = 0.3
P_CERTAINTY = 0.5
P_RECOMMEND = 0.3
P_RETURN_ENDING = 0.3

_NOUN_IS_PLURAL = {**{noun: False for noun in SINGULAR_NOUNS}, **{noun: True for noun in PLURAL_NOUNS}}
_DETERMINER_NUMBERS = {
    **{det: (False,) for det in SINGULAR_DETERMINERS},
    **{det: (True,) for det in PLURAL_DETERMINERS},
    **{det: (False, True) for det in (DEFAULT_DETERMINER,) + SHARED_DETERMINERS},
}
_ADJECTIVE_SENTIMENT = {**{adj: 1 for adj in POSITIVE_ADJECTIVES}, **{adj: 0 for adj in NEGATIVE_ADJECTIVES}}
_VERB_PHRASES = tuple((tuple(verb.split()), 1) for verb in POSITIVE_VERBS) + tuple(
    (tuple(verb.split()), 0) for verb in NEGATIVE_VERBS
)
_RETURN_PHRASES = tuple(tuple(phrase.split()) for phrase in RETURN_PHRASES)


# ---- sampling: each helper returns a token list ----


def _sample_noun_phrase(rng: random.Random, *, plural: bool) -> list[str]:
    if rng.random() < P_THE:
        determiner = DEFAULT_DETERMINER
    else:
        determiner = rng.choice(SHARED_DETERMINERS + (PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS))
    return [determiner, rng.choice(PLURAL_NOUNS if plural else SINGULAR_NOUNS)]


def _sample_adjective(rng: random.Random, sentiment: int, *, adverbs: tuple[str, ...] = ADVERBS) -> list[str]:
    adverb = [rng.choice(adverbs)] if rng.random() < P_ADVERB else []
    return adverb + [rng.choice(POSITIVE_ADJECTIVES if sentiment else NEGATIVE_ADJECTIVES)]


def _sample_description(rng: random.Random, sentiment: int) -> list[str]:
    if rng.random() < P_COMPOUND_SUBJECT:
        plural = True
        subject = _sample_noun_phrase(rng, plural=rng.random() < 0.5) + ["and"]
        subject += _sample_noun_phrase(rng, plural=rng.random() < 0.5)
    else:
        plural = rng.random() < 0.5
        subject = _sample_noun_phrase(rng, plural=plural)
    present = rng.random() < P_PRESENT_TENSE
    copula = ("are" if present else "were") if plural else ("is" if present else "was")
    adjectives = _sample_adjective(rng, sentiment)
    if rng.random() < P_ADJECTIVE_PAIR:
        adjectives += ["and"] + _sample_adjective(rng, sentiment)
    return subject + [copula] + adjectives


def _sample_opinion(rng: random.Random, sentiment: int) -> list[str]:
    verb = rng.choice(POSITIVE_VERBS if sentiment else NEGATIVE_VERBS)
    return [rng.choice(PRONOUNS)] + verb.split() + _sample_noun_phrase(rng, plural=rng.random() < 0.5)


def _sample_intention(rng: random.Random, sentiment: int) -> list[str]:
    tokens = [rng.choice(PRONOUNS), rng.choice(MODALS)]
    if not sentiment:
        tokens.append(rng.choice(NEGATIONS))
    elif rng.random() < P_CERTAINTY:
        tokens.append(rng.choice(CERTAINTY_ADVERBS))
    if rng.random() < P_RECOMMEND:
        return tokens + ["recommend"] + _sample_noun_phrase(rng, plural=rng.random() < 0.5)
    tokens += rng.choice(RETURN_PHRASES).split()
    if rng.random() < P_RETURN_ENDING:
        tokens.append(rng.choice(RETURN_ENDINGS))
    return tokens


def _sample_verdict(rng: random.Random, sentiment: int) -> list[str]:
    adjective = _sample_adjective(rng, sentiment, adverbs=ARTICLE_ADVERBS)
    article = "an" if adjective[0][0] in VOWELS else "a"
    return [rng.choice(VERDICT_SUBJECTS), rng.choice(VERDICT_COPULAS), article] + adjective + [rng.choice(OCCASION_NOUNS)]


_CLAUSE_SAMPLERS = {
    "description": _sample_description,
    "opinion": _sample_opinion,
    "intention": _sample_intention,
    "verdict": _sample_verdict,
}


def _sample_clause(rng: random.Random, sentiment: int) -> list[str]:
    kind = rng.choices(CLAUSE_KINDS, weights=CLAUSE_WEIGHTS)[0]
    return _CLAUSE_SAMPLERS[kind](rng, sentiment)


# ---- parsing: each helper takes the tokens and a start index, and yields every (end index, value) it can match ----


def _word(tokens: list[str], i: int, words) -> Iterator[int]:
    if i < len(tokens) and tokens[i] in words:
        yield i + 1


def _optional_word(tokens: list[str], i: int, words) -> Iterator[int]:
    yield i
    yield from _word(tokens, i, words)


def _phrase(tokens: list[str], i: int, phrase: tuple[str, ...]) -> Iterator[int]:
    if tuple(tokens[i : i + len(phrase)]) == phrase:
        yield i + len(phrase)


def _parse_noun_phrase(tokens: list[str], i: int) -> Iterator[tuple[int, bool]]:
    """Yields (end, plural)."""
    if i + 1 < len(tokens) and tokens[i + 1] in _NOUN_IS_PLURAL:
        plural = _NOUN_IS_PLURAL[tokens[i + 1]]
        if plural in _DETERMINER_NUMBERS.get(tokens[i], ()):
            yield i + 2, plural


def _parse_subject(tokens: list[str], i: int) -> Iterator[tuple[int, bool]]:
    for j, plural in _parse_noun_phrase(tokens, i):
        yield j, plural
        for k in _word(tokens, j, ("and",)):
            for m, _ in _parse_noun_phrase(tokens, k):
                yield m, True


def _parse_adjective(tokens: list[str], i: int, adverbs: tuple[str, ...] = ADVERBS) -> Iterator[tuple[int, int]]:
    """Yields (end, sentiment) for [adverb] adjective."""
    for j in _optional_word(tokens, i, adverbs):
        if j < len(tokens) and tokens[j] in _ADJECTIVE_SENTIMENT:
            yield j + 1, _ADJECTIVE_SENTIMENT[tokens[j]]


def _parse_adjective_phrase(tokens: list[str], i: int, sentiment_rules: bool) -> Iterator[tuple[int, int]]:
    for j, sentiment in _parse_adjective(tokens, i):
        yield j, sentiment
        for k in _word(tokens, j, ("and",)):
            for m, second in _parse_adjective(tokens, k):
                if second == sentiment or not sentiment_rules:
                    yield m, sentiment


def _parse_description(tokens: list[str], i: int, sentiment_rules: bool) -> Iterator[tuple[int, int]]:
    for j, plural in _parse_subject(tokens, i):
        for k in _word(tokens, j, PLURAL_COPULAS if plural else SINGULAR_COPULAS):
            yield from _parse_adjective_phrase(tokens, k, sentiment_rules)


def _parse_opinion(tokens: list[str], i: int) -> Iterator[tuple[int, int]]:
    for j in _word(tokens, i, PRONOUNS):
        for verb, sentiment in _VERB_PHRASES:
            for k in _phrase(tokens, j, verb):
                for m, _ in _parse_noun_phrase(tokens, k):
                    yield m, sentiment


def _parse_action(tokens: list[str], i: int) -> Iterator[int]:
    for j in _word(tokens, i, ("recommend",)):
        for k, _ in _parse_noun_phrase(tokens, j):
            yield k
    for phrase in _RETURN_PHRASES:
        for j in _phrase(tokens, i, phrase):
            yield from _optional_word(tokens, j, RETURN_ENDINGS)


def _parse_intention(tokens: list[str], i: int) -> Iterator[tuple[int, int]]:
    for j in _word(tokens, i, PRONOUNS):
        for k in _word(tokens, j, MODALS):
            for m in _optional_word(tokens, k, CERTAINTY_ADVERBS):
                for end in _parse_action(tokens, m):
                    yield end, 1
            for m in _word(tokens, k, NEGATIONS):
                for end in _parse_action(tokens, m):
                    yield end, 0


def _parse_verdict(tokens: list[str], i: int) -> Iterator[tuple[int, int]]:
    for j in _word(tokens, i, VERDICT_SUBJECTS):
        for k in _word(tokens, j, VERDICT_COPULAS):
            if k + 1 < len(tokens) and tokens[k] == ("an" if tokens[k + 1][0] in VOWELS else "a"):
                for m, sentiment in _parse_adjective(tokens, k + 1, ARTICLE_ADVERBS):
                    for end in _word(tokens, m, OCCASION_NOUNS):
                        yield end, sentiment


def _parse_clause(tokens: list[str], i: int, sentiment_rules: bool) -> Iterator[tuple[int, int]]:
    yield from _parse_description(tokens, i, sentiment_rules)
    for parse in (_parse_opinion, _parse_intention, _parse_verdict):
        yield from parse(tokens, i)


def _parse_sentence(tokens: list[str], sentiment_rules: bool = True) -> Iterator[int]:
    """Yields the label of every complete parse of the tokens (END included); without `sentiment_rules`,
    "and"/"but" join any two clauses and any two adjectives."""
    if not tokens or tokens[-1] not in ENDINGS:
        return
    body = tokens[:-1]
    for j, first in _parse_clause(body, 0, sentiment_rules):
        if j == len(body):
            yield first
        for k in _word(body, j, ("and",)):
            for end, second in _parse_clause(body, k, sentiment_rules):
                if end == len(body) and (second == first or not sentiment_rules):
                    yield second
        for k in _optional_word(body, j, (",",)):
            for m in _word(body, k, ("but",)):
                for end, second in _parse_clause(body, m, sentiment_rules):
                    if end == len(body) and (second != first or not sentiment_rules):
                        yield second


class ToyGrammar:
    """Probabilistic grammar of short restaurant reviews with sentiment; also its exact membership oracle."""

    def sample(self, rng: random.Random) -> tuple[str, int]:
        """One (text, label) drawn from the grammar; all randomness comes from `rng` so corpora are reproducible."""
        first = rng.randrange(2)
        tokens = _sample_clause(rng, first)
        label = first
        if rng.random() < P_TWO_CLAUSES:
            if rng.random() < P_BUT:
                label = 1 - first
                tokens += ([","] if rng.random() < P_COMMA_BEFORE_BUT else []) + ["but"]
            else:
                tokens.append("and")
            tokens += _sample_clause(rng, label)
        tokens.append("!" if rng.random() < P_EXCLAMATION else ".")
        return " ".join(tokens), label

    def generate(self, *, num_sentences: int, seed: int) -> list[dict]:
        """A corpus of `num_sentences` {"text", "label"} records, identical for the same seed on any machine."""
        if num_sentences < 0:
            raise DmlpError(f"num_sentences must be >= 0, got {num_sentences}")
        rng = random.Random(seed)
        records = []
        for _ in range(num_sentences):
            text, label = self.sample(rng)
            records.append({"text": text, "label": label})
        return records

    def parse(self, sentence: str, *, sentiment_rules: bool = True) -> int | None:
        """The sentence's label if it is in the language, else None; decided by parsing, so it is exact for any input.
        `sentiment_rules=False` parses the syntax alone (agreement, articles, clause shapes)."""
        return next(_parse_sentence(sentence.split(), sentiment_rules), None)

    def is_valid(self, sentence: str, *, sentiment_rules: bool = True) -> bool:
        """Whether a (generated) sentence is in the language: the measure of whether training worked."""
        return self.parse(sentence, sentiment_rules=sentiment_rules) is not None

    @property
    def vocabulary(self) -> list[str]:
        """Every word the grammar can emit, sorted; a tokenizer built from it covers the whole corpus."""
        word_lists = (
            SINGULAR_NOUNS, PLURAL_NOUNS, SINGULAR_DETERMINERS, PLURAL_DETERMINERS, (DEFAULT_DETERMINER,), SHARED_DETERMINERS,
            POSITIVE_ADJECTIVES, NEGATIVE_ADJECTIVES, ADVERBS, ARTICLE_ADVERBS, OCCASION_NOUNS, PRONOUNS,
            POSITIVE_VERBS, NEGATIVE_VERBS, MODALS, CERTAINTY_ADVERBS, NEGATIONS, RETURN_PHRASES, RETURN_ENDINGS,
            VERDICT_SUBJECTS, VERDICT_COPULAS, SINGULAR_COPULAS, PLURAL_COPULAS, ENDINGS,
            ("and", "but", ",", "a", "an", "recommend"),
        )
        return sorted({word for words in word_lists for phrase in words for word in phrase.split()})
