"""Term matching: word boundaries, prefix/suffix/infix wildcards, per-language inflection, digits, phrases, case."""

from __future__ import annotations

import pytest

from streams.tagging.matcher import Matcher, TermEntry
from streams.tagging.normalize import normalize
from streams.tagging.terms import TermError, parse_term


def found(term: str, lang: str, text: str, **options: object) -> list[str]:
    """The original substrings where `term` matches in `text`."""
    matcher = Matcher([TermEntry(0, parse_term(term, lang, **options))])  # type: ignore[arg-type]
    normalized = normalize(text)
    spans = [normalized.original_span(start, end) for _entries, start, end in matcher.find(normalized)]
    return [text[start:end] for start, end in spans]


@pytest.mark.parametrize(
    ("term", "lang", "text", "expected"),
    [
        ("troops", "en", "Troops, troop and troopships", ["Troops"]),
        ("nato", "any", "NATO's allies; the NATO-Russia Council; natopolis", ["NATO", "NATO"]),
        ("troop*", "en", "Troops, troop and troopships; stroop", ["Troops", "troop", "troopships"]),
        # Russian: the stem plus an inflection ending, not any continuation.
        ("войск~", "ru", "войска, войск, войсками, войсках, войсковой", ["войска", "войск", "войсками", "войсках"]),
        (
            "переговор~",
            "ru",
            "переговоры, переговорах, переговоров, переговорщик",
            ["переговоры", "переговорах", "переговоров"],
        ),
        ("wojsk~", "pl", "wojska, wojsk, wojskami, wojsku, wojskowy", ["wojska", "wojsk", "wojskami", "wojsku"]),
        ("військ~", "uk", "Війська, військ, військами, військовий", ["Війська", "військ", "військами"]),
        ("*truppen", "de", "Grenztruppen, Truppen, Truppenaufmarsch", ["Grenztruppen", "Truppen"]),
        ("*aufmarsch*", "de", "Der Truppenaufmarsches und Aufmarsch", ["Truppenaufmarsches", "Aufmarsch"]),
        ("19##", "any", "In 1968, 19 or 190000 or 2019", ["1968"]),
        ("000", "any", "100,000 troops; 100.000 Soldaten; 100 000 soldats; 2000", ["000", "000", "000"]),
        (
            "security guarantee*",
            "en",
            "Security guarantees and security-guarantee demands",
            ["Security guarantees", "security-guarantee"],
        ),
        (
            "гаранти~ безопасности",
            "ru",
            "гарантий безопасности, гарантиях безопасности",
            ["гарантий безопасности", "гарантиях безопасности"],
        ),
        ("совет~ россия нато", "ru", "заседание Совета Россия — НАТО", ["Совета Россия — НАТО"]),
        ("u.s.", "en", "U.S.-Russia talks; US talks", ["U.S"]),  # letters only: "u.s." is searched as "u s"
        ("l'otan", "fr", "l’OTAN a dit", ["l’OTAN"]),
        ("massés", "fr", "Des soldats MASSÉS et masses", ["MASSÉS", "masses"]),  # diacritics folded
    ],
)
def test_term_forms(term: str, lang: str, text: str, expected: list[str]) -> None:
    assert found(term, lang, text) == expected


def test_exact_case() -> None:
    assert found("US", "en", "US and us; the US.", exact_case=True) == ["US", "US"]


def test_weight_and_written_form() -> None:
    term = parse_term("security guarantee*^2.5", "en")
    assert term.weight == 2.5 and term.text == "security guarantee*"


@pytest.mark.parametrize(
    ("term", "lang", "message"),
    [
        ("", "en", "empty term"),
        ("ab*", "en", "at least 3 letters"),
        ("mid*dle", "en", "modifiers go only"),
        ("word~", "any", "'~' needs a language"),
        ("word^1^2", "en", "modifiers go only"),
        ("the *middle", "en", "only the first word of a phrase"),
    ],
)
def test_bad_terms(term: str, lang: str, message: str) -> None:
    with pytest.raises(TermError, match=message):
        parse_term(term, lang)
