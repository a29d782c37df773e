"""All terms of all rules in one Aho-Corasick automaton: one pass over the text finds every term.

The automaton finds raw occurrences of the literal keys anywhere, including inside words; each raw match
is then checked against its piece (word boundaries, prefix, inflection ending, digits, exact case).
Phrases whose inner words carry modifiers are found piece by piece and chained afterwards. No regular
expression runs per term.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick

from streams.tagging.normalize import Normalized
from streams.tagging.terms import Edge, Piece, Term

_WORD_TAIL_RE = re.compile(r"\w*")
# What may separate the words of a phrase: spaces and punctuation that does not end a sentence.
_PHRASE_GAP_RE = re.compile(r"[^\w.!?\n]{1,3}")


@dataclass(frozen=True, slots=True)
class TermEntry:
    """A term as it sits in the automaton: which concept it belongs to."""

    concept: int
    term: Term


@dataclass(frozen=True, slots=True)
class RawHit:
    """A term occurrence in folded-text coordinates."""

    entry: int  # index into Matcher.entries
    start: int
    end: int


class Matcher:
    """One automaton over every piece of every term; `find` returns the verified occurrences."""

    def __init__(self, entries: Sequence[TermEntry]) -> None:
        self.entries = tuple(entries)
        by_key: dict[str, list[tuple[int, int, Piece]]] = {}
        for entry_index, entry in enumerate(self.entries):
            for piece_index, piece in enumerate(entry.term.pieces):
                by_key.setdefault(piece.key, []).append((entry_index, piece_index, piece))
        self._automaton = ahocorasick.Automaton()
        for key, pieces in by_key.items():
            self._automaton.add_word(key, (len(key), tuple(pieces)))
        if by_key:
            self._automaton.make_automaton()
        self._empty = not by_key
        self._multi_piece = frozenset(i for i, entry in enumerate(self.entries) if len(entry.term.pieces) > 1)

    def find(self, normalized: Normalized) -> list[RawHit]:
        text = normalized.text
        if self._empty or not text:
            return []
        length = len(text)
        hits: list[RawHit] = []
        partial: dict[int, list[tuple[int, int, int]]] = {}  # entry -> (piece index, start, end)
        for last, (key_length, pieces) in self._automaton.iter(text):
            start, end = last - key_length + 1, last + 1
            at_word_start = start == 0 or not text[start - 1].isalnum()
            for entry_index, piece_index, piece in pieces:
                if not (at_word_start or piece.starts_inside_word):
                    continue
                hit_end = _piece_end(piece, text, end, length)
                if hit_end < 0:
                    continue
                hit_start = start
                if piece.starts_inside_word and not at_word_start:
                    hit_start = _word_start(text, start)
                if entry_index in self._multi_piece:
                    partial.setdefault(entry_index, []).append((piece_index, hit_start, hit_end))
                    continue
                term = self.entries[entry_index].term
                if term.exact_case is not None and not _case_matches(normalized, start, end, term.exact_case):
                    continue
                hits.append(RawHit(entry_index, hit_start, hit_end))
        for entry_index, found in partial.items():
            hits.extend(_chain_phrases(entry_index, found, len(self.entries[entry_index].term.pieces), text))
        return hits


def _piece_end(piece: Piece, text: str, end: int, length: int) -> int:
    """Where the occurrence ends if the text after the literal satisfies the piece, else -1."""
    edge = piece.edge
    if edge is Edge.WORD:
        return end if end == length or not text[end].isalnum() else -1
    word_end = _WORD_TAIL_RE.match(text, end).end()  # type: ignore[union-attr]  # \w* always matches
    if edge is Edge.PREFIX:
        return word_end
    if edge is Edge.INFLECT:
        return word_end if text[end:word_end] in piece.endings else -1
    digits_end = end + piece.digits
    if word_end == digits_end and text[end:digits_end].isdigit():
        return digits_end
    return -1


def _word_start(text: str, position: int) -> int:
    while position > 0 and text[position - 1].isalnum():
        position -= 1
    return position


def _case_matches(normalized: Normalized, start: int, end: int, literal: str) -> bool:
    original_start, original_end = normalized.original_span(start, end)
    return normalized.original[original_start:original_end] == literal


def _chain_phrases(entry_index: int, found: list[tuple[int, int, int]], size: int, text: str) -> list[RawHit]:
    """Occurrences of a multi-piece phrase: piece i+1 must follow piece i across a short gap."""
    starts_of: list[dict[int, int]] = [{} for _ in range(size)]  # piece -> {start: end}
    for piece_index, start, end in found:
        starts_of[piece_index][start] = end
    hits = []
    for start, end in starts_of[0].items():
        position = end
        for piece_index in range(1, size):
            gap = _PHRASE_GAP_RE.match(text, position)
            if gap is None or gap.end() not in starts_of[piece_index]:
                break
            position = starts_of[piece_index][gap.end()]
        else:
            hits.append(RawHit(entry_index, start, position))
    return hits
