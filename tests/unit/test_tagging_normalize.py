"""Normalisation: folding (case, diacritics, Unicode forms, dashes) and the map back to original offsets."""

from __future__ import annotations

import pytest

from streams.tagging.normalize import fold, normalize, sentence_starts, words_only


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("NATO–Russia", "nato russia"),  # en dash
        ("Nato-Russland-Rat", "nato russland rat"),
        ("Truppenaufmarsch", "truppenaufmarsch"),
        ("Großbritannien", "grossbritannien"),  # ß casefolds to ss
        ("Żołnierze ŁÓDŹ", "zolnierze lodz"),  # Polish ł has no decomposition: folded by hand
        ("Ещё войска", "еще воиска"),  # ё -> е, й -> и, consistently for terms and text
        ("Їхні війська", "іхні віиська"),
        ("massés à la frontière", "masses a la frontiere"),
        ("ﬁnal", "final"),  # ligature (NFKC)
        ("ＮＡＴＯ", "nato"),  # full-width letters
        ("l’OTAN", "l'otan"),  # typographic apostrophe
        ("cœur", "coeur"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert normalize(text).text == folded


@pytest.mark.parametrize(
    "text",
    [
        "Russia massed 100,000 troops near the border.",  # ASCII: identity offsets
        "Россия стянула войска к границе.",  # one-to-one non-ASCII
        "Die Straße zur Grenze: Truppenaufmarsch",  # ß expands to two characters
        "Cafe\u0301 près de la frontière… et ﬁnalement",  # a combining mark disappears, … and ﬁ expand
        "Солдаты\u00a0у\u2009границы — «сотни»",  # NBSP and thin space fold to spaces
    ],
)
def test_offsets_map_back_to_the_original(text: str) -> None:
    normalized = normalize(text)
    assert len(normalized.text) == (len(normalized.offsets) if normalized.offsets is not None else len(text))
    # Every folded word maps back to a span of the original that folds to that same word.
    position = 0
    for word in normalized.text.split():
        start = normalized.text.index(word, position)
        end = start + len(word)
        original_start, original_end = normalized.original_span(start, end)
        assert fold(text[original_start:original_end]).strip() == word
        position = end


def test_expansion_and_deletion_offsets() -> None:
    normalized = normalize("Straße e\u0301")
    assert normalized.text == "strasse e"
    assert normalized.original_span(0, 7) == (0, 6)  # "strasse" <- "Straße"
    assert normalized.original_span(8, 9) == (7, 9)  # "e" <- "e" + combining acute


def test_words_only_keeps_length() -> None:
    folded = fold("U.S.-Russia talks (Geneva), 100,000 troops; l'OTAN")
    assert words_only(folded) == "u s  russia talks  geneva   100 000 troops  l otan"
    assert len(words_only(folded)) == len(folded)


def test_sentence_starts_skip_abbreviations_and_numbers() -> None:
    text = fold("Gen. Smith said the U.S. would act. Russia has 2.5 times more troops! Then 100 tys. żołnierzy.\nNext")
    starts = sentence_starts(text)
    sentences = [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    assert sentences == [
        "gen. smith said the u.s. would act.",
        "russia has 2.5 times more troops!",
        "then 100 tys. zolnierzy.",
        "next",
    ]
