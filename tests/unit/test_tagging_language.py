"""Offline language identification on short news text."""

from __future__ import annotations

import pytest

from streams.language import UNDETERMINED, detect_language


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
    ],
)
def test_detects_the_corpus_languages(text: str, lang: str) -> None:
    assert detect_language(text) == lang


@pytest.mark.parametrize("text", ["", "   ", "2022-01-12 10:00", "https://example.com/a/b?c=1", "!!! ???"])
def test_no_letters_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED
