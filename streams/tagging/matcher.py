"""All terms of all rules in one Aho-Corasick automaton: one pass over the text finds every term.

The automaton runs over the words-only form of the folded text (`normalize.words_only`: every character
that is not a letter or digit is a space) with a space added at both ends, so a word boundary is simply
a space and it is part of the keys:

=========================  =====================  =============================================
term                       automaton key          after a raw match
=========================  =====================  =============================================
``troops`` (a word)        ``" troops "``         nothing to check
``troop*`` (prefix)        ``" troop"``           extend to the end of the word
``войск~`` (inflected)     ``" войск"``           the rest of the word is one of the endings
``19##`` (digits)          ``" 19"``              two digits, then a space
``*truppen`` (suffix)      ``"truppen "``         extend back to the start of the word
``*aufmarsch*`` (infix)    ``"aufmarsch"``        extend both ways
=========================  =====================  =============================================

Keys that include their spaces cannot match inside a word, so almost every raw match is a real one and
the Python work per match is a tuple append. A phrase with modifiers inside ("совет~ россия нато") has
its first piece in the automaton and the next pieces are compared in place. No regex runs per term.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

from streams import native as native_module
from streams.tagging.normalize import Normalized, words_only
from streams.tagging.terms import Edge, Piece, Term


@dataclass(frozen=True, slots=True)
class TermEntry:
    """A term as it sits in the automaton: which concept it belongs to."""

    concept: int
    term: Term
    article_language_only: bool = False  # match only in articles of the term's language


# Where some terms occur, in folded-text coordinates: ``(entries, start, end)``. `entries` are indexes
# into Matcher.entries: all the terms that match this same span the same way (one word is often listed
# in several concepts). A plain tuple: the compiled matcher builds them too, and they are cheapest.
RawHit = tuple[tuple[int, ...], int, int]


@dataclass(frozen=True, slots=True)
class _Check:
    """The verification shared by every term with the same pieces under one automaton key."""

    pieces: tuple[Piece, ...]
    exact_case: str | None
    entries: tuple[int, ...]
    whole_word: bool  # a plain word or phrase: the key's spaces already prove the match


_INFLECT, _PREFIX = Edge.INFLECT, Edge.PREFIX


def distinct_entries(entries: Sequence[TermEntry]) -> tuple[TermEntry, ...]:
    """Drop repeats of a term within one concept: names are listed under several languages on purpose, so
    that each language list reads complete, but one automaton entry per distinct term is enough. A plain
    word is also dropped when the same concept has it with a wildcard ("putin" next to "putin~")."""
    seen: set[tuple[object, ...]] = set()
    wildcard_stems = {
        (entry.concept, entry.term.pieces[0].key)
        for entry in entries
        if len(entry.term.pieces) == 1
        and entry.term.pieces[0].edge in (Edge.PREFIX, Edge.INFLECT)
        and not entry.term.pieces[0].starts_inside_word
        and not entry.article_language_only
    }
    kept = []
    for entry in entries:
        term = entry.term
        key = (entry.concept, term.pieces, term.weight, term.exact_case, entry.article_language_only and term.lang)
        plain = (
            len(term.pieces) == 1
            and term.pieces[0].edge is Edge.WORD
            and not term.pieces[0].starts_inside_word
            and term.weight == 1.0
            and term.exact_case is None
            and not entry.article_language_only
        )
        if key in seen or (plain and (entry.concept, term.pieces[0].key) in wildcard_stems):
            continue
        seen.add(key)
        kept.append(entry)
    return tuple(kept)


def _key(piece: Piece) -> str:
    before = "" if piece.starts_inside_word else " "
    after = " " if piece.edge is Edge.WORD else ""
    return f"{before}{piece.key}{after}"


class Matcher:
    """One automaton over the first piece of every term; `find` returns the verified occurrences."""

    def __init__(self, entries: Sequence[TermEntry], *, native: bool = True) -> None:
        """`native=False`: search with the Python code even when the compiled matcher is installed."""
        self.entries = tuple(entries)
        by_key: dict[str, dict[tuple[object, ...], list[int]]] = {}
        for index, entry in enumerate(self.entries):
            term = entry.term
            group = by_key.setdefault(_key(term.pieces[0]), {})
            group.setdefault((term.pieces, term.exact_case), []).append(index)
        self._automaton = ahocorasick.Automaton()
        self.entry_groups: list[tuple[int, ...]] = []  # every `entries` tuple a RawHit can carry
        for key, groups in by_key.items():
            checks = tuple(
                _Check(
                    pieces,  # type: ignore[arg-type]
                    exact_case,  # type: ignore[arg-type]
                    tuple(indexes),
                    len(pieces) == 1 and exact_case is None and _whole_word(pieces[0]),  # type: ignore[arg-type,index]
                )
                for (pieces, exact_case), indexes in groups.items()
            )
            self.entry_groups.extend(check.entries for check in checks)
            self._automaton.add_word(key, (len(key), checks))
        self._empty = not by_key
        self._native: Any = None  # the compiled twin of python_hits (see streams.native)
        if by_key:
            self._automaton.make_automaton()
            compiled = native_module.module() if native else None
            if compiled is not None:
                self._native = compiled.TermMatcher(
                    [(key, [_check_spec(check) for check in checks]) for key, (_, checks) in self._automaton.items()],
                    native_module.word_char_ranges(),
                    native_module.digit_ranges(),
                )

    @property
    def compiled(self) -> Any:
        """The compiled ``TermMatcher`` this matcher searches with, or None (the Python code then)."""
        return self._native

    def find(self, normalized: Normalized) -> list[RawHit]:
        """Verified occurrences of every term in a folded text (offsets into `normalized.text`)."""
        if self._empty or not normalized.text:
            return []
        if self._native is not None:
            hits, exact = self._native.find(normalized.text)
        else:
            hits, exact = self.python_hits(normalized.text)
        if exact:
            wrong_case = {index for index, literal in exact if not _case_matches(normalized, *hits[index][1:], literal)}
            hits = [hit for index, hit in enumerate(hits) if index not in wrong_case]
        return hits

    def python_hits(self, folded: str) -> tuple[list[RawHit], list[tuple[int, str]]]:
        """The verified matches in a folded text, and the hits whose case is still to check (index in hits,
        literal): the reference for the compiled ``TermMatcher.find``."""
        searchable, shift_at, shifts = _searchable(folded)
        # Positions are first found in this padded text: text[i] is searchable[i - 1].
        text = f" {searchable} "
        hits: list[RawHit] = []
        exact: list[tuple[int, str]] = []  # (index in hits, literal): checked once offsets are final
        for last, (key_length, checks) in self._automaton.iter(text):
            start, end = last - key_length + 1, last + 1  # the key is text[start:end]
            for check in checks:
                if check.whole_word:
                    hits.append((check.entries, start, end - 2))
                    continue
                first = check.pieces[0]
                if first.starts_inside_word:
                    word_start = text.rfind(" ", 0, start) + 1
                else:
                    word_start = start + 1  # after the key's leading space
                edge = first.edge
                if edge is _INFLECT:  # the commonest wildcard, inlined: the rest of the word is an ending
                    word_end = text.find(" ", end)
                    if text[end:word_end] not in first.endings:
                        continue
                elif edge is _PREFIX:
                    word_end = text.find(" ", end)
                else:
                    word_end = _piece_end(first, text, end)
                    if word_end < 0:
                        continue
                if len(check.pieces) > 1:
                    word_end = _rest_of_phrase(check.pieces, text, word_end)
                    if word_end < 0:
                        continue
                if check.exact_case is not None:
                    exact.append((len(hits), check.exact_case))
                hits.append((check.entries, word_start - 1, word_end - 1))
        if shifts:
            hits = [
                (entries, _unshift(start, shift_at, shifts), _unshift(end - 1, shift_at, shifts) + 1)
                for entries, start, end in hits
            ]
        return hits, exact


# Runs of spaces in the folded text - a spaced dash ("Россия — НАТО", "NATO – Russia" fold to three
# spaces) or sloppy double spacing - are collapsed to one space for the search, so phrases match across
# them. Punctuation gaps (", ", ". ") are not: a phrase does not run across a comma or a sentence end.
_COLLAPSIBLE_RE = re.compile(r" {2,}")


def _searchable(folded: str) -> tuple[str, list[int], list[int]]:
    """The words-only text with collapsible gaps reduced to one space, and the way back.

    Returns (text, shift_at, shifts): a position `p` of the text is position `p + shifts[i]` of `folded`,
    where `i` is the last index with `shift_at[i] <= p`. Both lists are empty when nothing was collapsed.
    """
    spaced = words_only(folded)
    if "  " not in folded:
        return spaced, [], []
    parts: list[str] = []
    shift_at, shifts = [0], [0]
    removed = previous = 0
    for match in _COLLAPSIBLE_RE.finditer(folded):
        start, end = match.span()
        parts.append(spaced[previous : start + 1])  # keep one space of the gap
        removed += end - start - 1
        previous = end
        shift_at.append(end - removed)
        shifts.append(removed)
    if not removed:
        return spaced, [], []
    parts.append(spaced[previous:])
    return "".join(parts), shift_at, shifts


def _unshift(position: int, shift_at: list[int], shifts: list[int]) -> int:
    return position + shifts[bisect_right(shift_at, position) - 1]


_EDGE_CODES = {Edge.WORD: 0, Edge.PREFIX: 1, Edge.INFLECT: 2, Edge.DIGITS: 3}  # as native/src/lib.rs


def _check_spec(check: _Check) -> tuple[object, ...]:
    """A check as the compiled ``TermMatcher`` takes it."""
    pieces = [
        (piece.key, piece.starts_inside_word, _EDGE_CODES[piece.edge], sorted(piece.endings), piece.digits)
        for piece in check.pieces
    ]
    return (pieces, check.exact_case, check.entries, check.whole_word)


def _whole_word(piece: Piece) -> bool:
    return not piece.starts_inside_word and piece.edge is Edge.WORD


def _piece_end(piece: Piece, text: str, end: int) -> int:
    """Where the word ends if what follows the key satisfies the piece, else -1 (`end` is after the key)."""
    edge = piece.edge
    if edge is Edge.WORD:
        return end - 1 if text[end - 1] == " " else (end if text[end] == " " else -1)
    word_end = text.find(" ", end)
    if edge is Edge.PREFIX:
        return word_end
    if edge is Edge.INFLECT:
        return word_end if text[end:word_end] in piece.endings else -1
    digits_end = end + piece.digits
    return digits_end if word_end == digits_end and text[end:digits_end].isdigit() else -1


def _rest_of_phrase(pieces: tuple[Piece, ...], text: str, position: int) -> int:
    """Match pieces[1:] in place, one space after `position` each; the end of the phrase, or -1."""
    for piece in pieces[1:]:
        if not text.startswith(piece.key, position + 1):
            return -1
        position = _piece_end(piece, text, position + 1 + len(piece.key))
        if position < 0:
            return -1
    return position


def _case_matches(normalized: Normalized, start: int, end: int, literal: str) -> bool:
    original_start, original_end = normalized.original_span(start, end)
    return normalized.original[original_start:original_end] == literal
