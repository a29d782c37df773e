"""The term syntax of the rule files, parsed into automaton pieces.

A term is one word or a phrase of words, matched case-, diacritics- and Unicode-insensitively
(see `normalize`). Each word may carry one modifier:

================  ============================================================================
``troops``        the whole word exactly
``troop*``        prefix: any continuation inside the word (troops, troopships)
``*truppen``      suffix: the word may start earlier (Grenztruppen, Bodentruppen)
``*aufmarsch*``   infix: anywhere inside a word (Truppenaufmarsches)
``войск~``        stem plus one of the inflection endings of the term's language (войска, войсками)
``19##``          each ``#`` is one digit (1968, 1991 - not 19 or 190000)
================  ============================================================================

A phrase (``security guarantees``, ``гаранти* безопасности``) matches its words in order, separated by a
space, a hyphen or a spaced dash ("NATO-Russia", "Россия — НАТО"), but not across a comma or a sentence end.
Punctuation inside a term is ignored like in the text: ``u.s.`` matches "U.S." and ``l'otan`` "l’OTAN".
``^2.5`` at the end sets the term's weight (default 1), as in Lucene queries. The mapping form
``{term: US, case: exact}`` also requires the original text to have exactly that case (``US`` the country,
not ``us`` the pronoun).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from streams.tagging.inflection import endings_for
from streams.tagging.normalize import fold, words_only


class Edge(enum.Enum):
    """What must follow a piece's literal for it to match."""

    WORD = "word"  # a word boundary
    PREFIX = "prefix"  # anything (the evidence extends to the end of the word)
    INFLECT = "inflect"  # the rest of the word is one of the language's endings
    DIGITS = "digits"  # exactly `digits` digits, then a word boundary


@dataclass(frozen=True, slots=True)
class Piece:
    """One automaton key and the checks a raw automaton match must pass."""

    key: str
    starts_inside_word: bool = False
    edge: Edge = Edge.WORD
    endings: frozenset[str] = frozenset()
    digits: int = 0


@dataclass(frozen=True, slots=True)
class Term:
    """A parsed term: its pieces (several only for phrases with modifiers on inner words)."""

    text: str  # as written in the rule file, shown in evidence
    lang: str
    weight: float
    pieces: tuple[Piece, ...]
    exact_case: str | None = None  # the literal the original text must equal, when case-sensitive


class TermError(ValueError):
    """A term that cannot be parsed; the message says why and how to fix it."""


MIN_WILDCARD_STEM = 3
_WEIGHT_RE = re.compile(r"\^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")
_MODIFIER_CHARS = "*~#^"


def parse_term(raw: str, lang: str, *, weight: float | None = None, exact_case: bool = False) -> Term:
    """Parse one term of `lang` (a language code, or "any" for language-independent terms)."""
    written = raw.strip()
    if not written:
        raise TermError("empty term")
    body = written
    match = _WEIGHT_RE.search(body)
    if match:
        if weight is not None:
            raise TermError(f"term {written!r} gives its weight twice (^ and weight:); keep one")
        weight = float(match.group(1))
        body = body[: match.start()].strip()
    words = fold(body).split()
    if not words:
        raise TermError(f"term {written!r} has no letters after normalisation")
    parsed = [_parse_word(word, lang, written) for word in words]
    pieces = _assemble(parsed, written)
    literal = None
    if exact_case:
        if len(pieces) != 1 or pieces[0].starts_inside_word:
            raise TermError(f"term {written!r}: case: exact needs a plain word or phrase, no leading '*'")
        literal = body.rstrip(_MODIFIER_CHARS)
    return Term(text=body, lang=lang, weight=1.0 if weight is None else weight, pieces=pieces, exact_case=literal)


def _parse_word(word: str, lang: str, written: str) -> Piece:
    starts_inside = word.startswith("*")
    core = word[1:] if starts_inside else word
    edge, endings, digits = Edge.WORD, frozenset[str](), 0
    if core.endswith("*"):
        edge, core = Edge.PREFIX, core[:-1]
    elif core.endswith("~"):
        found = endings_for(lang)
        if found is None:
            raise TermError(
                f"term {written!r}: '~' needs a language with an inflection list, not {lang!r}; "
                "put the term under a language key (ru, uk, pl, de, en, fr, es...) or use '*'"
            )
        edge, core, endings = Edge.INFLECT, core[:-1], found
    elif core.endswith("#"):
        stripped = core.rstrip("#")
        edge, digits, core = Edge.DIGITS, len(core) - len(stripped), stripped
    if not core or any(char in core for char in _MODIFIER_CHARS):
        raise TermError(
            f"term {written!r}: modifiers go only at the start ('*') or end ('*', '~', '#', '^N') of a word"
        )
    core = " ".join(words_only(core).split())  # "u.s." -> "u s", "l'otan" -> "l otan": as the text is searched
    if not core:
        raise TermError(f"term {written!r} has no letters or digits")
    wildcard = starts_inside or edge in (Edge.PREFIX, Edge.INFLECT)
    if wildcard and len(core) < MIN_WILDCARD_STEM:
        raise TermError(
            f"term {written!r}: a wildcard stem needs at least {MIN_WILDCARD_STEM} letters "
            f"({core!r} would match far too much); list the full words instead"
        )
    return Piece(key=core, starts_inside_word=starts_inside, edge=edge, endings=endings, digits=digits)


def _assemble(words: list[Piece], written: str) -> tuple[Piece, ...]:
    """Group a phrase's words into as few pieces as possible: a piece ends at a word with a modifier.

    "security guarantee*" is one piece; "совет~ россия нато" is two ("совет~", "россия нато"). The matcher
    looks up the first piece in the automaton and checks the following ones in place.
    """
    if any(piece.starts_inside_word for piece in words[1:]):
        raise TermError(f"term {written!r}: only the first word of a phrase may start with '*'")
    pieces: list[Piece] = []
    group: list[Piece] = []
    for index, word in enumerate(words):
        group.append(word)
        if word.edge is not Edge.WORD or index == len(words) - 1:
            pieces.append(
                Piece(
                    key=" ".join(piece.key for piece in group),
                    starts_inside_word=group[0].starts_inside_word,
                    edge=word.edge,
                    endings=word.endings,
                    digits=word.digits,
                )
            )
            group = []
    return tuple(pieces)
