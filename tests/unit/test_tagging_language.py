"""Offline language identification on short news text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.language import (
    _URL_RE,
    MAX_CHARS,
    TOP_K,
    UNDETERMINED,
    _model,
    detect_language,
    detect_languages,
    model_path,
    pick_language,
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Russia masses troops near Ukraine border", "en"),
        ("Россия стянула войска к границе с Украиной", "ru"),
        ("Росія стягує війська до кордону з Україною", "uk"),
        ("Rosja gromadzi wojska przy granicy z Ukrainą", "pl"),
        ("Russland zieht Truppen an der Grenze zusammen", "de"),
        ("La Russie masse des troupes à la frontière ukrainienne", "fr"),
        ("Rusia concentra tropas en la frontera con Ucrania", "es"),
        # One-line, name-heavy headlines: mostly names, few words of the language itself.
        ("Lavrov and Blinken met in Geneva", "en"),
        ("Blinken y Lavrov en Ginebra", "es"),
        ("Sherman, Ryabkov hold talks", "en"),
        ("Столтенберг: НАТО готове до діалогу", "uk"),
        ("Рябков: переговоры в Женеве", "ru"),
        ("Szczyt NATO w Wilnie", "pl"),
        ("Scholz telefoniert mit Putin", "de"),
        ("Macron et Poutine au téléphone", "fr"),
        # Several lines and runs of spaces: the model reads one line.
        ("Russland zieht Truppen zusammen\n\n   Die Regierung in Berlin zeigt sich besorgt.", "de"),
    ],
)
def test_detects_the_corpus_languages(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "   ", "2022-01-12 10:00", "https://example.com/a/b?c=1", "!!! ???"])
def test_no_letters_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_the_model_ships_inside_a_package() -> None:
    assert model_path().stat().st_size > 500_000


def test_only_news_languages_are_reported_when_the_model_offers_one() -> None:
    # Belarusian is a news language here; Esperanto is not, so the second label wins.
    assert pick_language(("__label__eo", "__label__be", "__label__uk"), (0.5, 0.3, 0.05)) == "be"


def test_the_primary_prior_decides_close_calls_only() -> None:
    assert pick_language(("__label__be", "__label__uk"), (0.52, 0.48)) == "uk"
    assert pick_language(("__label__be", "__label__uk"), (0.9, 0.1)) == "be"


def test_a_language_outside_the_list_is_still_named() -> None:
    assert pick_language(("__label__hi", "__label__mr"), (0.9, 0.05)) == "hi"
    assert pick_language((), ()) == UNDETERMINED


def test_detecting_a_batch_gives_each_text_its_own_answer() -> None:
    texts = ["Lavrov and Blinken met in Geneva", "", "Рябков: переговоры в Женеве", "!!!", "Szczyt NATO w Wilnie"]
    assert detect_languages(texts) == [detect_language(text) for text in texts] == ["en", "und", "ru", "und", "pl"]


def test_a_sure_best_label_gives_what_the_full_ranking_gives() -> None:
    # detect_language asks the model for its best label only when that one is sure (see language._SURE);
    # the answer must be pick_language's over the TOP_K labels, on clear and on borderline texts alike.
    corpus = Path(__file__).resolve().parents[1] / "corpus" / "tagging"
    texts = []
    for path in sorted(corpus.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts.append(f"{item['title']}\n{item.get('text') or item.get('summary', '')}")
    texts += [text[:length] for text in texts[::7] for length in (12, 25, 40)]  # short: less sure
    texts += ["Lavrov Blinken Geneva", "NATO OTAN НАТО", "Putin Macron", "Ok", "Berlin Paris Warszawa Kyiv"]
    for text in texts:
        sample = " ".join(_URL_RE.sub(" ", text[: MAX_CHARS + 200])[:MAX_CHARS].split())
        labels, probabilities = _model().predict(sample, k=TOP_K)
        assert detect_language(text) == pick_language(tuple(labels), probabilities), text
