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

Extra band keys that a *duplicate* adds (so later copies find the story through more bands) stay in
memory only; after a restart such a copy is still found through the founder's own bands.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.neardup import band_keys, decode_signature

PENDING_PRUNE_AT = 2_000


class StoryIndex:
    def __init__(self) -> None:
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
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if isinstance(encoded, bytes):
            encoded = encoded.decode("ascii", "replace")
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

    def lookup(self, stories_get, key: str) -> str | None:  # type: ignore[no-untyped-def]
        """What ``streams.neardup.link`` asks: band keys from memory, signatures from the table."""
        if key.startswith("b:"):
            return self.bands.get(key)
        value = stories_get(key)
        return value if value is not None else self.pending.get(key)

    def record(self, new_entries: Mapping[str, str]) -> dict[str, str]:
        """Take a link's new entries; returns the ones to persist (the signatures)."""
        persist: dict[str, str] = {}
        for key, value in new_entries.items():
            if key.startswith("b:"):
                self.bands.setdefault(key, value)
            else:
                persist[key] = value
                if key.startswith("s:"):
                    self.indexed.add(key)  # its bands were just added by link(): nothing to learn later
        return persist
