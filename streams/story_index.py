"""The near-duplicate state split in two: story signatures persisted, the band index derived in memory.

Each story needs ~32 LSH band keys; writing each to a Faust table costs one changelog message, and
those writes were most of the streams stage's time (about 33 produce calls per new article). The
band keys are a pure function of the story's signature, so only ``s:<story id>`` -> signature is
persisted (one write per new story) and the band keys are rebuilt in memory from those entries.

How the index learns of signatures, without ever rescanning the table per event (an earlier version
rescanned the whole table whenever its size changed: with two workers that was every time the other
one founded a story, a cost growing with everything remembered - 14 days of stories):
- its own new stories: ``record`` (the caller writes them to the table);
- other workers' stories, and everything replayed at start or after a rebalance: ``learn``, called
  by Faust for each changelog record it applies (``on_changelog_event``);
- entries a persistent store (RocksDB) loaded from disk, which no changelog record announces:
  ``sync``, one full scan before the first article.

A learnt signature is also kept here until the table holds it: Faust lists every partition of a
global table's changelog as active on every worker and applies their records to the table only once
1,000 are buffered, so another worker's new story can stay out of the table for hours on a quiet
watch floor - its copies would then start stories of their own (the two-worker integration test).

Two implementations with one interface and identical answers (``tests/unit/test_native.py``):
``CompiledStoryIndex`` keeps the band keys and the signatures in the optional Rust extension (one
call an article instead of 32 dict lookups and a signature decoded per candidate; ~1.6 KB a story
instead of ~4.5 KB), ``PythonStoryIndex`` keeps them in dicts. ``new_story_index()`` picks the first
when ``newswatch-native`` is installed.

Extra band keys that a *duplicate* adds (so later copies find the story through more bands) stay in
memory only; after a restart such a copy is still found through the founder's own bands.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from streams import native
from streams.neardup import (
    DEFAULT_THRESHOLD,
    MIN_SHINGLES,
    NUM_BINS,
    ROWS_PER_BAND,
    Signature,
    StoryLink,
    band_keys,
    decode_signature,
    encode_signature,
    link,
    story_key,
    unpack_signature,
)

PENDING_PRUNE_AT = 2_000


class StoryIndexLike(Protocol):
    def sync(self, stories: Mapping[str, str]) -> None: ...
    def learn(self, key: str | bytes | None, encoded: str | bytes | None) -> None: ...
    def link(self, article_id: str, signature: Signature, stories_get: Callable[[str], str | None]) -> StoryLink: ...
    def record(self, story: StoryLink) -> dict[str, str]: ...


def new_story_index(threshold: float = DEFAULT_THRESHOLD, *, compiled: bool | None = None) -> StoryIndexLike:
    """The compiled index when ``newswatch-native`` is installed (or ``compiled=True``), else the Python one."""
    module = native.module() if compiled is not False else None
    if compiled and module is None:
        raise RuntimeError("newswatch-native is not installed")
    if module is None:
        return PythonStoryIndex(threshold)
    return CompiledStoryIndex(module.StoryBands(NUM_BINS, ROWS_PER_BAND, MIN_SHINGLES), threshold)


def _text(value: str | bytes | None, encoding: str) -> str | None:
    return value.decode(encoding, "replace") if isinstance(value, bytes) else value


class CompiledStoryIndex:
    """Band keys and signatures in Rust (``newswatch_native.StoryBands``): every story's signature is
    held, so the table is read only once, at start."""

    def __init__(self, bands: Any, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.bands = bands
        self.threshold = threshold
        self.scanned = False

    def sync(self, stories: Mapping[str, str]) -> None:
        if self.scanned:
            return
        for key, encoded in stories.items():
            self._index(key, encoded)
        self.scanned = True

    def learn(self, key: str | bytes | None, encoded: str | bytes | None) -> None:
        key, encoded = _text(key, "utf-8"), _text(encoded, "ascii")
        if key and encoded:
            self._index(key, encoded)

    def _index(self, key: str, encoded: str) -> None:
        if key.startswith("s:"):
            self.bands.add_packed_story(key[2:], *unpack_signature(encoded))

    def link(self, article_id: str, signature: Signature, stories_get: Callable[[str], str | None]) -> StoryLink:
        """``streams.neardup.link``'s answer, from the compiled index alone."""
        bands = self.bands
        if not signature.usable or bands.founded(article_id):
            return StoryLink(story_id=article_id)
        found = bands.best(signature.values)
        if found is not None and found[1] >= self.threshold:
            return StoryLink(found[0], duplicate_of=found[0], similarity=found[1], signature=signature)
        entries = {story_key(article_id): encode_signature(signature)}
        return StoryLink(story_id=article_id, new_entries=entries, signature=signature)

    def record(self, story: StoryLink) -> dict[str, str]:
        """Index an emitted article's link; returns the entries to persist (a new story's signature)."""
        signature = story.signature
        if signature is None:
            return {}
        if story.duplicate_of is not None:
            self.bands.add_bands(story.story_id, signature.values)
            return {}
        self.bands.add_story(story.story_id, signature.values, signature.shingles)
        return dict(story.new_entries)


class PythonStoryIndex:
    """Band keys in a dict; signatures read from the table (or ``pending``) when a candidate is verified."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.bands: dict[str, str] = {}
        self.indexed: set[str] = set()
        self.scanned = False
        self.pending: dict[str, str] = {}  # learnt signatures the table may not hold yet
        self.prune_at = PENDING_PRUNE_AT

    def sync(self, stories: Mapping[str, str]) -> None:
        """Index every signature the table holds, once; afterwards only prune (see the module doc)."""
        if len(self.pending) >= self.prune_at:
            self._prune(stories)
        if self.scanned:
            return
        for key, encoded in stories.items():
            self._index(key, encoded)  # already in the table: nothing pending
        self.scanned = True

    def learn(self, key: str | bytes | None, encoded: str | bytes | None) -> None:
        """Index one changelog record, and keep its signature until the table holds it.

        Signatures only; tombstones and band keys are ignored.
        """
        key, encoded = _text(key, "utf-8"), _text(encoded, "ascii")
        if key and encoded and self._index(key, encoded):
            self.pending[key] = encoded

    def _index(self, key: str, encoded: str) -> bool:
        """Add a signature's bands; False when ``key`` is not a signature or is indexed already."""
        if not key.startswith("s:") or key in self.indexed:
            return False
        self.indexed.add(key)
        story_id = key[2:]
        for band in band_keys(decode_signature(encoded)):
            self.bands.setdefault(band, story_id)
        return True

    def _prune(self, stories: Mapping[str, str]) -> None:
        """Forget the pending signatures the table now holds; checked again only after as many more arrive."""
        self.pending = {key: value for key, value in self.pending.items() if stories.get(key) is None}
        self.prune_at = max(PENDING_PRUNE_AT, 2 * len(self.pending))

    def lookup(self, stories_get: Callable[[str], str | None], key: str) -> str | None:
        """A story's signature for ``streams.neardup.link``: from the table, else learnt and pending.

        (``link`` reads band keys from ``self.bands`` directly.)
        """
        value = stories_get(key)
        return value if value is not None else self.pending.get(key)

    def link(self, article_id: str, signature: Signature, stories_get: Callable[[str], str | None]) -> StoryLink:
        lookup = functools.partial(self.lookup, stories_get)
        return link(article_id, signature, lookup, threshold=self.threshold, bands=self.bands.get)

    def record(self, story: StoryLink) -> dict[str, str]:
        """Take a link's new entries; returns the ones to persist (the signatures)."""
        persist: dict[str, str] = {}
        for key, value in story.new_entries.items():
            if key.startswith("b:"):
                self.bands.setdefault(key, value)
            else:
                persist[key] = value
                if key.startswith("s:"):
                    self.indexed.add(key)  # its bands were just added by link(): nothing to learn later
        return persist
