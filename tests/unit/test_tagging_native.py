"""The compiled tagger (native/src/tagger.rs) must decide exactly what the pure-Python tagger decides.

Scores, tags, rule scores, vetoes, requirements and evidence (terms, offsets, weights) are compared on
every corpus text, in several languages' settings, with and without ``explain``, and on the same texts
with awkward characters spliced in (ligatures, ``ß``, combining accents, dashes, spaced dashes...), which
take both compiled paths: the fold done in Rust (character by character, with an offset table when a
character folds to several) and the Python fold, whose result the Rust code then decides on.
Skipped when the package is not installed, except in CI (``NEWSWATCH_REQUIRE_NATIVE=1``).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from streams.tagging import Tagger
from streams.tagging.normalize import normalize, separable_folds
from tests.native_support import native_module_or_skip

native_module_or_skip()

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "tagging"
# Characters whose fold is not one character, or that interact with their neighbours, or separate words.
AWKWARD = [
    "ß", "ẞ", "ﬁ", "ﬀ", "…", "e\u0301", "\u0301", "\u0308", "—", " – ", "  ", "\u00a0", "ł", "œ", "İ", "ǅ", "Ⅻ",
    "①", "’", "«", "»", "\n", "U.S.", "ŉ", "\U0001d400", "ｶﾞ", "ς", "ΐ", "\u0345", "й", "ё", "ї", "\u1100\u1161",
    "가\u11a8", "\t", "\u200b", "!? ", ". ", "Mr. ", "`", "\u3000", "-", "NATO-Russia", "US", "us",
]  # fmt: skip


def corpus_articles() -> list[tuple[str, str, str]]:
    articles = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            articles.append((item["title"], item.get("text") or item.get("summary") or "", item["lang"]))
    return articles


def spliced(articles: list[tuple[str, str, str]], seed: int = 5) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    result = []
    for title, text, lang in articles:
        chars = list(f"{title}\n{text}")
        for _ in range(rng.randint(1, 12)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(AWKWARD))
        new_title, _, new_text = "".join(chars).partition("\n")
        result.append((new_title, new_text, lang))
    return result


@pytest.fixture(scope="module")
def taggers() -> tuple[Tagger, Tagger]:
    compiled, python = Tagger.default(), Tagger.default(native=False)
    assert compiled.native and not python.native
    return compiled, python


@pytest.mark.parametrize("explain", [False, True], ids=["default", "explain"])
@pytest.mark.parametrize("texts", ["corpus", "spliced"])
def test_the_compiled_tagger_decides_as_the_python_one(
    taggers: tuple[Tagger, Tagger], texts: str, explain: bool
) -> None:
    compiled, python = taggers
    articles = corpus_articles()
    if texts == "spliced":
        articles = spliced(articles)
    applied = 0
    for title, text, lang in articles:
        # The article's own language, another one (the function words of "only_in_article_language"
        # lists), and one no rule lists.
        for as_lang in (lang, "pl" if lang != "pl" else "en", "xx"):
            expected = python.tag(title, text, as_lang, explain=explain)
            got = compiled.tag(title, text, as_lang, explain=explain)
            assert got == expected, (title, as_lang)
            assert got.decisions == expected.decisions, (title, as_lang)
            applied += len(got.tags)
    assert applied > len(articles) // 2  # the comparison covered many applied tags and their evidence


def test_both_compiled_paths_are_taken(taggers: tuple[Tagger, Tagger]) -> None:
    compiled, _ = taggers
    texts = [text for _, text, _ in spliced(corpus_articles())]
    folds = [compiled._native.fold(text) for text in texts]
    assert 0 < sum(fold is None for fold in folds) < len(texts)  # folded in Python, then decided in Rust
    assert any(fold is not None and fold[1] is not None for fold in folds)  # "ß": folded in Rust, with offsets


def test_the_compiled_fold_is_the_python_fold_where_it_answers(taggers: tuple[Tagger, Tagger]) -> None:
    compiled, _ = taggers
    table = separable_folds()
    separable = [chr(code) for code in range(0x10000) if table[code]]
    others = [chr(code) for code in range(0x10000) if not table[code] and not 0xD800 <= code < 0xE000]
    rng = random.Random(3)
    answered = 0
    for number in range(30_000):
        chars = [rng.choice(separable) for _ in range(rng.randint(1, 6))]
        if number % 5 == 0:
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(others + AWKWARD))
        text = "".join(chars)
        folded = compiled._native.fold(text)
        if folded is None:
            continue
        answered += 1
        reference = normalize(text)
        offsets = None if reference.offsets is None else list(reference.offsets)
        assert folded == (reference.text, offsets), [hex(ord(char)) for char in text]
    assert answered > 20_000
