"""The near-duplicate state split in two: story signatures persisted, the band index derived in memory.

Each story needs ~32 LSH band keys; writing each to a Faust table costs one changelog message, and
those writes were most of the streams stage's time (about 33 produce calls per new article). The
band keys are a pure function of the story's signature, so only ``s:<story id>`` -> signature is
persisted (one write per new story) and the band keys are rebuilt in memory from those entries:
at start, and whenever the table holds signatures this worker has not indexed yet (stories found
by other workers arrive through the global table's changelog).

Extra band keys that a *duplicate* adds (so later copies find the story through more bands) stay in
memory only; after a restart such a copy is still found through the founder's own bands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from streams.neardup import band_keys, decode_signature


class StoryIndex:
    def __init__(self) -> None:
        self.bands: dict[str, str] = {}
        self.indexed: set[str] = set()
        self.synced_size = 0  # the table's length when it was last scanned

    def sync(self, stories: Mapping[str, str] | Iterable[tuple[str, str]], size: int) -> None:
        """Index the signatures not indexed yet; ``size`` (the table's length) makes the common case O(1)."""
        if size == self.synced_size:
            return
        items = stories.items() if isinstance(stories, Mapping) else stories
        for key, encoded in items:
            if key.startswith("s:") and key not in self.indexed:
                self._index(key, encoded)
        self.synced_size = size

    def _index(self, key: str, encoded: str) -> None:
        self.indexed.add(key)
        story_id = key[2:]
        for band in band_keys(decode_signature(encoded)):
            self.bands.setdefault(band, story_id)

    def lookup(self, stories_get, key: str) -> str | None:  # type: ignore[no-untyped-def]
        """What ``streams.neardup.link`` asks: band keys from memory, signatures from the table."""
        if key.startswith("b:"):
            return self.bands.get(key)
        return stories_get(key)  # type: ignore[no-any-return]

    def record(self, new_entries: Mapping[str, str]) -> dict[str, str]:
        """Take a link's new entries; returns the ones to persist (the signatures)."""
        persist: dict[str, str] = {}
        for key, value in new_entries.items():
            if key.startswith("b:"):
                self.bands.setdefault(key, value)
            else:
                persist[key] = value
                if key.startswith("s:") and key not in self.indexed:
                    self.indexed.add(key)
                    self.synced_size += 1  # the caller writes it to the table: no rescan for our own
        return persist
