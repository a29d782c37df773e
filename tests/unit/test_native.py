"""The compiled speed-ups (``native/``) must give exactly what the pure-Python reference gives.

Workers with and without ``newswatch-native`` share one story table, so a single differing bin would
split stories between them. Skipped when the package is not installed, except in CI
(``NEWSWATCH_REQUIRE_NATIVE=1``), where a failed build must not hide behind a skip.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from streams import neardup
from streams.neardup import NUM_BINS, Signature, normalise_for_sketch, python_signature
from tests.native_support import native_module_or_skip

newswatch_native = native_module_or_skip()

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "tagging"
WORDS = (
    "nato russia talks geneva troops border ukraine belgorod kremlin Stoltenberg войска границе переговоры "
    "НАТО Україна війська Gespräche Truppen Grenze négociations troupes frontière rozmowy wojska granica "
    "the a of and 2022 12 ’ « » — naïve ﬁnance Ⅻ ① x y z"
).split()


def fresh_min_hasher(cache_limit: int = 300_000) -> newswatch_native.MinHasher:
    return newswatch_native.MinHasher(
        NUM_BINS, neardup._BIN_BITS, neardup._VALUE_SHIFT, [list(p) for p in neardup._PROBES], cache_limit
    )


def native_signature(hasher: newswatch_native.MinHasher, text: str) -> Signature:
    values, shingles = hasher.signature(normalise_for_sketch(text))
    return Signature(values, shingles)


def corpus_texts() -> list[str]:
    texts = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts.append(f"{item['title']}\n{item.get('text') or item.get('summary', '')}")
    return texts


def random_texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    # Lengths 0-3 words take the padding and densification fallbacks; longer ones fill most bins.
    lengths = [0, 1, 2, 3, 4, 5, 8, 20, 60, 200, 600]
    return [" ".join(rng.choice(WORDS) for _ in range(rng.choice(lengths))) for _ in range(count)]


@pytest.mark.parametrize("source", ["corpus", "random"])
def test_the_compiled_signature_equals_the_python_one(source: str) -> None:
    texts = corpus_texts() if source == "corpus" else random_texts(3_000)
    assert texts
    hasher = fresh_min_hasher()
    for text in texts:
        assert native_signature(hasher, text) == python_signature(normalise_for_sketch(text)), text[:80]


def test_equal_after_the_token_cache_is_cleared() -> None:
    hasher = fresh_min_hasher(cache_limit=5)
    for text in random_texts(300, seed=11):
        assert native_signature(hasher, text) == python_signature(normalise_for_sketch(text))
    assert hasher.cached_tokens() <= 5


def test_the_stage_uses_the_compiled_sketch_when_installed() -> None:
    assert neardup._NATIVE is not None
    text = "Diplomats met in Geneva on Monday and agreed to meet again in Vienna next week."
    assert neardup.sketch(text) == python_signature(normalise_for_sketch(text))


def test_empty_and_tiny_inputs() -> None:
    hasher = fresh_min_hasher()
    assert hasher.signature([]) == ((), 0)
    values, shingles = hasher.signature(["nato"])
    assert shingles == 1 and len(values) == NUM_BINS and len(set(values)) == 1


def test_bad_construction_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="num_bins"):
        newswatch_native.MinHasher(100, 7, 25, [[0]] * 100, 10)
    with pytest.raises(ValueError, match="probes"):
        newswatch_native.MinHasher(NUM_BINS, 7, 25, [[NUM_BINS]] * NUM_BINS, 10)


def test_tokens_must_be_strings() -> None:
    with pytest.raises(TypeError):
        fresh_min_hasher().signature(["nato", 3])


# --- The gazetteer's matcher ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gazetteer():  # type: ignore[no-untyped-def]
    from streams.gazetteer.matcher import Gazetteer

    built = Gazetteer.from_directory()
    assert built._native is not None
    return built


def glued_texts(
    vocabulary: list[str],
    glue: list[str],
    count: int,
    seed: int,
    max_words: int,
    change: Callable[[str, random.Random], str],
) -> list[str]:
    """Texts of 1 to `max_words` words, each from `vocabulary` (60%) or WORDS, changed by `change` and
    followed by a piece of `glue`: the edge cases the matchers must agree on."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, max_words)):
            word = rng.choice(vocabulary) if rng.random() < 0.6 else rng.choice(WORDS)
            parts.append(change(word, rng) + rng.choice(glue))
        texts.append("".join(parts))
    return texts


def gazetteer_texts(gazetteer, count: int, seed: int = 5) -> list[str]:  # type: ignore[no-untyped-def]
    """Aliases of every kind glued to words, stems' endings, capitals and scripts."""
    forms = sorted({form.text for entry in gazetteer.entries for form in entry.forms()})
    glue = ["", " ", " ", ", ", "-", "_", "'", "’", "\n", "ом", "ą", "é", "1", "\u0301", "ß", "İ"]

    def change(word: str, rng: random.Random) -> str:
        shape = rng.random()
        return word.lower() if shape < 0.2 else word.upper() if shape < 0.3 else word

    return glued_texts(forms, glue, count, seed, 12, change)


def test_the_compiled_gazetteer_matcher_equals_the_python_one(gazetteer) -> None:  # type: ignore[no-untyped-def]
    from streams.gazetteer.aliases import fold, nfkc

    texts = corpus_texts() + gazetteer_texts(gazetteer, 4_000)
    matched = 0
    for text in texts:
        original = nfkc(text)
        folded = fold(original)
        expected = gazetteer.python_spans(original, folded)
        assert gazetteer._native.spans(original, folded) == expected, text[:120]
        matched += bool(expected)
    assert matched > len(texts) // 2  # the texts do exercise the matcher


def test_word_characters_are_pythons(gazetteer) -> None:  # type: ignore[no-untyped-def]
    # A letter right before an alias hides it ("natoli"), in any script, exactly as str.isalnum() says.
    for before, hidden in [
        ("x", True),
        ("é", True),
        ("ж", True),
        ("_", True),
        ("٣", True),
        ("-", False),
        ("\u0301", False),
    ]:
        text = f"{before}NATO"
        spans = gazetteer._native.spans(text, text.lower())
        assert (spans == []) is hidden, before
        assert gazetteer.python_spans(text, text.lower()) == spans


def test_texts_of_different_lengths_are_refused(gazetteer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="characters"):
        gazetteer._native.spans("NATO", "nato!")


# --- The tagger's term matcher ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger():  # type: ignore[no-untyped-def]
    from streams.tagging.engine import Tagger

    built = Tagger.default()
    assert built._matcher._native is not None
    return built


def rule_texts(tagger, count: int, seed: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    """Rule terms (their written forms, with inflections and digits) glued together in awkward ways."""
    terms = sorted({entry.term.text for entry in tagger._matcher.entries})
    endings = ["", "", "s", "ов", "ами", "а", "ie", "en", "1991", "_x"]
    glue = [" ", " ", "  ", "   ", " - ", " — ", ", ", ". ", "-", "\n", "’", "«", "»", "\u00a0", "ß", "İ", "é"]

    def change(word: str, rng: random.Random) -> str:
        word = word.replace("*", rng.choice(["", "ab", "s"])).replace("~", rng.choice(endings))
        word = word.replace("#", str(rng.randint(0, 9)))
        shape = rng.random()
        return word.upper() if shape < 0.15 else word.title() if shape < 0.3 else word

    return glued_texts(terms, glue, count, seed, 14, change)


def test_the_compiled_term_matcher_equals_the_python_one(tagger) -> None:  # type: ignore[no-untyped-def]
    from streams.tagging.normalize import normalize

    matcher = tagger._matcher
    texts = corpus_texts() + rule_texts(tagger, 4_000)
    matched = 0
    for text in texts:
        folded = normalize(text).text
        expected = matcher.python_hits(folded)
        assert matcher._native.find(folded) == expected, text[:120]
        matched += bool(expected[0])
    assert matched > len(texts) // 2


def test_tagging_results_do_not_depend_on_the_compiled_matcher(tagger) -> None:  # type: ignore[no-untyped-def]
    from streams.tagging.engine import Tagger

    python_only = Tagger(tagger.rules)
    python_only._matcher._native = None
    items = [json.loads(line) for path in sorted(CORPUS.glob("*.jsonl")) for line in path.read_text().splitlines()]
    items += [{"title": text[:60], "text": text, "lang": "en"} for text in rule_texts(tagger, 500, seed=9)]
    for item in items:
        title, text, lang = item["title"], item.get("text") or item.get("summary", ""), item.get("lang")
        assert tagger.tag(title, text, lang, explain=True) == python_only.tag(title, text, lang, explain=True)


# --- story index ---------------------------------------------------------------------------------


def story_stream(count: int, seed: int = 11) -> list[tuple[str, str]]:
    """(article id, text): originals from the corpus, and copies of earlier ones with a few words edited."""
    rng = random.Random(seed)
    originals = corpus_texts() + random_texts(400, seed=seed)
    stream: list[tuple[str, str]] = []
    for number in range(count):
        if stream and rng.random() < 0.45:
            words = rng.choice(stream)[1].split()
            for _ in range(rng.choice([0, 1, 2, 5, 12])):
                if words:
                    words[rng.randrange(len(words))] = rng.choice(WORDS)
            text = " ".join(words)
        else:
            text = rng.choice(originals)
        # Ids compare in both orders (ties between equally similar stories go to the smaller id).
        stream.append((f"{rng.choice('abc')}{number:05d}", text))
    return stream


def linked(index, table: dict[str, str], article_id: str, text: str):  # type: ignore[no-untyped-def]
    link = index.link(article_id, neardup.sketch(text), table.get)
    persisted = index.record(link)
    table.update(persisted)
    return (link.story_id, link.duplicate_of, link.similarity, persisted)


def test_the_compiled_story_index_links_like_the_python_one() -> None:
    from streams.story_index import new_story_index

    python, compiled = new_story_index(compiled=False), new_story_index(compiled=True)
    python_table: dict[str, str] = {}
    compiled_table: dict[str, str] = {}
    answers = []
    for article_id, text in story_stream(3_000):
        expected = linked(python, python_table, article_id, text)
        assert linked(compiled, compiled_table, article_id, text) == expected, (article_id, text[:80])
        answers.append(expected)
    linked_copies = sum(duplicate is not None for _, duplicate, _, _ in answers)
    assert 500 < linked_copies < 2_000  # the stream really exercises linking, both ways


def test_two_compiled_workers_learning_from_each_other_link_like_python_ones() -> None:
    from streams.story_index import new_story_index

    def run(compiled: bool) -> list[tuple[str, str | None, float]]:
        workers = [new_story_index(compiled=compiled), new_story_index(compiled=compiled)]
        tables: list[dict[str, str]] = [{}, {}]
        answers = []
        for number, (article_id, text) in enumerate(story_stream(1_500, seed=12)):
            me = number % 2
            story_id, duplicate_of, similarity, persisted = linked(workers[me], tables[me], article_id, text)
            for key, value in persisted.items():  # the other worker reads it from the changelog
                workers[1 - me].learn(key.encode(), value.encode())
            answers.append((story_id, duplicate_of, similarity))
        restarted, table = new_story_index(compiled=compiled), {**tables[0], **tables[1]}
        restarted.sync(table)
        for article_id, text in story_stream(300, seed=13):  # the same ids again: some founded stories
            answers.append(linked(restarted, table, article_id, text)[:3])
        return answers

    assert run(compiled=True) == run(compiled=False)
