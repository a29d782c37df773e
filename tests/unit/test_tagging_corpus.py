"""The quality gate: precision and recall of the packaged rules on the development corpus.

Fails when, for either tag, precision or recall overall drops below 0.90, or recall in any language drops
below 0.80. `bench/tagging_quality.py` prints the full table and the errors with their evidence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.tagging import Tagger
from streams.tagging.evaluation import ALL, Evaluation, evaluate_corpus, format_errors, format_table, load_corpus

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "tagging"
TAGS = ("nato-russia-talks", "troop-buildup")
LANGUAGES = {"en", "ru", "uk", "de", "fr", "pl", "es"}
MIN_PRECISION = MIN_RECALL = 0.90
MIN_LANGUAGE_RECALL = 0.80


@pytest.fixture(scope="module")
def evaluation() -> Evaluation:
    return evaluate_corpus(Tagger.default(), load_corpus(sorted(CORPUS.glob("*.jsonl"))))


def test_corpus_shape() -> None:
    items = load_corpus(sorted(CORPUS.glob("*.jsonl")))
    assert len(items) >= 150
    assert len({item.id for item in items}) == len(items), "corpus ids must be unique"
    by_lang = {lang: [item for item in items if item.lang == lang] for lang in LANGUAGES}
    for lang, lang_items in by_lang.items():
        assert len(lang_items) >= 20, f"{lang} is under-represented"
        for tag in TAGS:
            positives = sum(tag in item.labels for item in lang_items)
            assert positives >= 8, f"{lang} has only {positives} {tag} positives"
        assert sum(not item.labels for item in lang_items) >= 10, f"{lang} has too few negatives"
    assert all(set(item.labels) <= set(TAGS) for item in items)


@pytest.mark.parametrize("tag", TAGS)
def test_overall_precision_and_recall(evaluation: Evaluation, tag: str) -> None:
    scores = evaluation.score(tag, ALL)
    report = f"\n{format_table(evaluation)}\n{format_errors(evaluation)}"
    assert scores.precision >= MIN_PRECISION, report
    assert scores.recall >= MIN_RECALL, report


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_recall_per_language(evaluation: Evaluation, tag: str, lang: str) -> None:
    scores = evaluation.score(tag, lang)
    assert scores.recall >= MIN_LANGUAGE_RECALL, f"\n{format_table(evaluation)}\n{format_errors(evaluation)}"


def test_no_tags_on_general_news() -> None:
    items = load_corpus(sorted((CORPUS / "background").glob("*.jsonl")))
    tagger = Tagger.default()
    tagged = [(item.id, result.tags) for item in items if (result := tagger.tag(item.title, item.text, item.lang)).tags]
    assert not tagged
