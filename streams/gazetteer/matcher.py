"""Finding places and actors in article text with one Aho-Corasick automaton over all aliases.

Every surface form of every alias (all languages, scripts and case endings, ~8k strings) goes into
a single ``pyahocorasick`` automaton keyed by its folded form, so one linear pass over the folded text
finds every candidate. Candidates are then kept only at word boundaries, with the case rules of their
alias, and overlapping ones are resolved leftmost-longest ("Donetsk People's Republic" over
"Donetsk").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick

from streams import native
from streams.gazetteer.aliases import STEM_MAX_SUFFIX, fold, nfkc
from streams.gazetteer.loader import DATA_DIR, Entry, GazetteerError, Kind, load_entries


class _Variant(NamedTuple):
    entry: int  # index into Gazetteer.entries
    exact: str | None  # the alias as written, when it must match with exactly this case
    needs_capital: bool
    stem: bool


@dataclass(frozen=True, slots=True)
class Mention:
    """One name found in the text; offsets are into the NFKC-normalised text."""

    name: str
    kind: Kind
    start: int
    end: int


class Gazetteer:
    """All gazetteer names compiled for matching. Build once per process; matching is thread-safe."""

    def __init__(self, entries: Iterable[Entry], *, include_implied: bool = True) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        # A city or region also files the article under its country (so "places: Ukraine" finds
        # reports that only name Kharkiv), and an organisation under its parent ("implies").
        self.include_implied = include_implied
        by_name = {entry.name: entry for entry in self.entries}
        # Per entry, what a mention of it adds to the output: (canonical name, is a place) pairs.
        self._targets: list[tuple[tuple[str, bool], ...]] = []
        for entry in self.entries:
            implied = [by_name[n] for n in (*entry.countries, *entry.implies)] if include_implied else []
            named = [] if entry.kind is Kind.BLOCKER else [entry]
            self._targets.append(tuple((e.name, e.kind.is_place) for e in (*named, *implied)))
        self._native: Any = None  # the compiled matcher (see streams.native), set by _compile
        self._automaton = self._compile()

    @classmethod
    def from_directory(cls, directory: Path = DATA_DIR, **options: bool) -> Gazetteer:
        return cls(load_entries(directory), **options)

    def _compile(self) -> ahocorasick.Automaton:
        variants: dict[str, list[_Variant]] = {}
        for index, entry in enumerate(self.entries):
            for form in entry.forms():
                key = fold(form.text)
                found = variants.setdefault(key, [])
                clash = next((v for v in found if v.entry != index), None)
                if clash is not None:
                    other = self.entries[clash.entry]
                    raise GazetteerError(
                        f"alias {form.text!r} is claimed by both {other.kind} {other.name!r} "
                        f"and {entry.kind} {entry.name!r}; make one of them more specific"
                    )
                variant = _Variant(index, form.text if form.exact_case else None, form.needs_capital, form.stem)
                if variant not in found:
                    found.append(variant)
        automaton = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for key, found in variants.items():
            automaton.add_word(key, (len(key), tuple(found)))
        automaton.make_automaton()
        compiled = native.module()
        if compiled is not None:
            self._native = compiled.SpanFinder(list(variants.items()), native.word_char_ranges(), STEM_MAX_SUFFIX)
        return automaton

    def __len__(self) -> int:
        return len(self._automaton)

    def mentions(self, text: str) -> list[Mention]:
        """Every name in ``text``, in order, without overlaps (the longest wins at each position)."""
        entries = self.entries
        return [
            Mention(entries[index].name, entries[index].kind, start, end)
            for start, end, index in self._spans(text)
            if entries[index].kind is not Kind.BLOCKER  # a blocker only hides what it covers
        ]

    def find(self, title: str, text: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``(places, entities)``: canonical names in order of first appearance, title first."""
        places: dict[str, None] = {}
        entities: dict[str, None] = {}
        targets = self._targets
        # A newline is a word boundary, so one pass over both fields cannot join words across them.
        for _, _, index in self._spans(f"{title}\n{text}" if text else title):
            for name, is_place in targets[index]:
                (places if is_place else entities).setdefault(name, None)
        return tuple(places), tuple(entities)

    def _spans(self, text: str) -> list[tuple[int, int, int]]:
        """``(start, end, entry index)`` of every match, leftmost-longest, blockers included."""
        original = nfkc(text)
        folded = fold(original)
        if self._native is not None:
            return self._native.spans(original, folded)  # type: ignore[no-any-return]
        return self.python_spans(original, folded)

    def python_spans(self, original: str, folded: str) -> list[tuple[int, int, int]]:
        """``_spans`` in Python: the reference for the compiled ``SpanFinder``."""
        limit = len(folded)
        candidates: list[tuple[int, int, int]] = []  # (start, -end, entry): sorts leftmost-longest
        for last, (length, found) in self._automaton.iter(folded):
            start = last - length + 1
            if start > 0:
                before = folded[start - 1]
                if before.isalnum() or before == "_":
                    continue  # inside a word ("us" in "discuss", "nato" in "natoli")
            end = last + 1
            for variant in found:
                stop = end
                if variant.stem:
                    while stop < limit and stop - end < STEM_MAX_SUFFIX and _is_word_char(folded[stop]):
                        stop += 1
                if stop < limit and _is_word_char(folded[stop]):
                    continue
                if variant.exact is not None and original[start:end] != variant.exact:
                    continue
                if variant.needs_capital and not original[start].isupper():
                    continue
                candidates.append((start, -stop, variant.entry))
                break
        candidates.sort()
        spans: list[tuple[int, int, int]] = []
        covered_until = -1
        for start, negative_end, index in candidates:
            if start >= covered_until:
                covered_until = -negative_end
                spans.append((start, covered_until, index))
        return spans


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


@cache
def default_gazetteer() -> Gazetteer:
    """The gazetteer built from the data files shipped in this package (loaded once per process)."""
    return Gazetteer.from_directory()


def find_places_and_entities(title: str, text: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Places and entities named in an article, using the shipped gazetteer."""
    return default_gazetteer().find(title, text)
