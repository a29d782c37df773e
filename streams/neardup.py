"""Near-duplicate linking: the same wire story in several outlets gets one ``story_id``.

A MinHash signature over word 3-shingles, cut into LSH bands; an article whose band keys hit a known
story is a *candidate*, and is linked only when the estimated Jaccard similarity against that story's
first signature reaches the threshold (so different stories on the same topic, which share a few
phrases, stay apart).

Speed: the Faust stage must do thousands of articles per second in pure Python, so the signature is a
*one-permutation* MinHash (Li, Owen & Zhang 2012) with *optimal densification* (Shrivastava 2017):
every shingle is hashed once and dropped into one of ``NUM_BINS`` bins (minimum kept per bin); empty
bins borrow the value of another bin chosen by a fixed pseudo-random sequence. This estimates Jaccard
like classic k-permutation MinHash at 1/k of the cost. When the optional compiled package
``newswatch-native`` (``native/``, Rust) is installed, the hashing and binning run there (the whole
sketch took ~110 µs an article in the worker, ~40 with it); it gives the same signatures, so workers
with and without it share one story table.

State is a plain string->string mapping the caller keeps (a Faust table in production, a dict in
tests): ``link`` reads it through ``lookup`` and returns the entries to write, so it stays pure.

- ``b:<band>:<hex>`` -> story_id         one per LSH band of a story's articles
- ``s:<story_id>``   -> encoded signature the story's first article, for verification

The story id is the id of the story's first article, so "story -> first article" needs no extra key.
"""

from __future__ import annotations

import base64
import hashlib
import operator
import re
import unicodedata
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams import native

NUM_BINS = 128
ROWS_PER_BAND = 4
NUM_BANDS = NUM_BINS // ROWS_PER_BAND
SHINGLE_SIZE = 3
# Fewer shingles than this is too little text to call two articles the same story
# ("Live updates" vs "Live updates" must not merge two unrelated live blogs).
MIN_SHINGLES = 4
DEFAULT_THRESHOLD = 0.5

_BIN_BITS = 7  # log2(NUM_BINS)
_VALUE_SHIFT = 64 - _BIN_BITS - 32  # the 32 bits right below the bin bits are the stored value
_MASK32 = (1 << 32) - 1
_WORD = re.compile(r"\w+")
_ASCII_PUNCTUATION_TO_SPACE = str.maketrans(
    {c: " " for c in map(chr, range(128)) if not (c.isalnum() or c == "_" or c.isspace())}
)

# Token -> three independent 64-bit hashes, one per shingle position; a shingle's hash is their XOR
# (h0(a) ^ h1(b) ^ h2(c)), which is as good as hashing the joined shingle and much cheaper in Python.
# blake2b is stable across processes (unlike hash()), which matters because signatures written by one
# worker are compared by another. The cache is bounded: cleared when it grows too big.
_TOKEN_HASHES: dict[str, tuple[int, int, int]] = {}
_TOKEN_CACHE_LIMIT = 300_000
_PADDING = (0, 0, 0)


def _probe_sequences(length: int = 48) -> tuple[tuple[int, ...], ...]:
    # Optimal densification: empty bin i looks at bins probe[i][0], probe[i][1], ... until one is
    # filled. The sequence must be identical in every process and Python version, hence blake2b
    # rather than the random module.
    def probe(i: int, attempt: int) -> int:
        return hashlib.blake2b(f"{i}:{attempt}".encode(), digest_size=4).digest()[0] % NUM_BINS

    return tuple(tuple(probe(i, attempt) for attempt in range(length)) for i in range(NUM_BINS))


_PROBES = _probe_sequences()


def _native_min_hasher() -> Any:
    """The compiled twin of ``python_signature`` when ``newswatch-native`` is installed, else None."""
    compiled = native.module()
    if compiled is None:
        return None
    return compiled.MinHasher(NUM_BINS, _BIN_BITS, _VALUE_SHIFT, [list(p) for p in _PROBES], _TOKEN_CACHE_LIMIT)


_NATIVE = _native_min_hasher()


@dataclass(frozen=True, slots=True)
class Signature:
    """One-permutation MinHash values (``NUM_BINS`` of them; empty when the text had no words)."""

    values: tuple[int, ...]
    shingles: int

    @property
    def usable(self) -> bool:
        return self.shingles >= MIN_SHINGLES and len(self.values) == NUM_BINS


@dataclass(frozen=True, slots=True)
class StoryLink:
    """The outcome of linking one article: its story and the state entries to write back."""

    story_id: str
    duplicate_of: str | None = None
    similarity: float = 1.0
    new_entries: dict[str, str] = field(default_factory=dict)
    # The article's signature, for an index that keeps band keys itself (``streams.story_index``).
    signature: Signature | None = field(default=None, compare=False, repr=False)


def normalise_for_sketch(text: str) -> list[str]:
    """Lower-cased NFKC word tokens: punctuation, quotes and spacing edits do not change a story."""
    if text.isascii():
        # Same tokens as the regex (ASCII punctuation is exactly \W here), four times faster.
        return text.lower().translate(_ASCII_PUNCTUATION_TO_SPACE).split()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.lower())


def _token_hashes(token: str) -> tuple[int, int, int]:
    value = _TOKEN_HASHES.get(token)
    if value is None:
        if len(_TOKEN_HASHES) >= _TOKEN_CACHE_LIMIT:
            _TOKEN_HASHES.clear()
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=24).digest()
        value = _TOKEN_HASHES[token] = (
            int.from_bytes(digest[:8], "little"),
            int.from_bytes(digest[8:16], "little"),
            int.from_bytes(digest[16:], "little"),
        )
    return value


def sketch(text: str) -> Signature:
    """MinHash signature of ``text`` over word 3-shingles (shorter texts: one padded shingle)."""
    tokens = normalise_for_sketch(text)
    if _NATIVE is not None:
        values, shingles = _NATIVE.signature(tokens)
        return Signature(values, shingles)
    return python_signature(tokens)


def python_signature(tokens: list[str]) -> Signature:
    """The signature of word tokens in Python: the reference for the compiled ``MinHasher``."""
    cached = _TOKEN_HASHES.get
    hashes = [cached(t) or _token_hashes(t) for t in tokens]
    if not hashes:
        return Signature((), 0)
    hashes.extend([_PADDING] * (SHINGLE_SIZE - len(hashes)))
    shingles = {a[0] ^ b[1] ^ c[2] for a, b, c in zip(hashes, hashes[1:], hashes[2:], strict=False)}
    # The top bits pick the bin. Iterating in descending order and letting later (smaller) hashes
    # overwrite earlier ones leaves the minimum of each bin, all inside C loops.
    minima = {h >> (64 - _BIN_BITS): h for h in sorted(shingles, reverse=True)}
    filled = {b: (h >> _VALUE_SHIFT) & _MASK32 for b, h in minima.items()}
    values = [filled.get(i, -1) for i in range(NUM_BINS)]
    if len(filled) < NUM_BINS:
        _densify(values, filled)
    return Signature(tuple(values), len(shingles))


def _densify(values: list[int], filled: dict[int, int]) -> None:
    for i in range(NUM_BINS):
        if values[i] >= 0:
            continue
        for j in _PROBES[i]:
            if j in filled:
                values[i] = filled[j]
                break
        else:
            # Only very short texts (a handful of filled bins) get here: take the next filled bin
            # to the right, which is as deterministic as the probes.
            values[i] = filled[min(filled, key=lambda b: (b - i) % NUM_BINS)]


def similarity(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of the two shingle sets (share of equal bins)."""
    if not a.values or not b.values:
        return 0.0
    if len(a.values) != len(b.values):
        raise ValueError(f"signatures of different sizes: {len(a.values)} and {len(b.values)}")
    return sum(map(operator.eq, a.values, b.values)) / NUM_BINS  # map: the comparisons stay in C


def band_keys(signature: Signature) -> list[str]:
    """One key per LSH band: ``b:<band>:<the band's rows in hex>`` (empty for unusable signatures).

    The rows themselves, not a hash of them: the keys live only in memory (``streams.story_index``),
    and hashing 32 bands cost the worker ~15 µs an article.
    """
    if not signature.usable:
        return []
    packed = array("I", signature.values).tobytes().hex()
    width = ROWS_PER_BAND * 8  # hex digits per band
    return [f"b:{band}:{packed[band * width : (band + 1) * width]}" for band in range(NUM_BANDS)]


StoryLinker = Callable[[str, Signature], StoryLink]


def table_linker(lookup: Callable[[str], str | None], threshold: float = DEFAULT_THRESHOLD) -> StoryLinker:
    """``link`` over one mapping that holds everything (band keys and signatures), e.g. a dict in tests."""
    return lambda article_id, signature: link(article_id, signature, lookup, threshold=threshold)


def story_key(story_id: str) -> str:
    return f"s:{story_id}"


def encode_signature(signature: Signature) -> str:
    return base64.b64encode(array("I", signature.values).tobytes()).decode("ascii") + f";{signature.shingles}"


def unpack_signature(encoded: str) -> tuple[bytes, int]:
    """An encoded signature's packed values (native-endian unsigned 32-bit) and shingle count."""
    packed, _, shingles = encoded.partition(";")
    return base64.b64decode(packed), int(shingles or 0)


def decode_signature(encoded: str) -> Signature:
    packed, shingles = unpack_signature(encoded)
    values = array("I")
    values.frombytes(packed)
    return Signature(tuple(values), shingles)


def link(
    article_id: str,
    signature: Signature,
    lookup: Callable[[str], str | None],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    bands: Callable[[str], str | None] | None = None,
) -> StoryLink:
    """Find the story this article belongs to, or start a new one.

    ``bands`` looks up the band keys when they are kept apart from the signatures (the stage keeps
    them in a dict: passing its ``get`` saves 32 Python calls an article); by default ``lookup``.

    Idempotent for replays: an article that founded a story finds its own ``s:`` entry, and a copy
    re-links to the same story because the state only ever gains keys (existing ones are never
    rewritten), so at-least-once delivery gives the same answer twice.
    """
    if not signature.usable:
        return StoryLink(story_id=article_id)
    if lookup(story_key(article_id)) is not None:
        # It founded a story earlier (a replay, or a new version of the first article): keep it there.
        return StoryLink(story_id=article_id)

    keys = band_keys(signature)
    band_lookup = bands or lookup
    hits = [(key, band_lookup(key)) for key in keys]
    best_story, best_score = None, 0.0
    for story_id in dict.fromkeys(story for _, story in hits if story is not None):
        encoded = lookup(story_key(story_id))
        if encoded is None:
            continue  # band keys outlived the story record (state expiry): not verifiable, skip
        score = similarity(signature, decode_signature(encoded))
        if score > best_score or (score == best_score and best_story is not None and story_id < best_story):
            best_story, best_score = story_id, score

    free_keys = [key for key, story in hits if story is None]
    if best_story is not None and best_score >= threshold:
        return StoryLink(
            story_id=best_story,
            duplicate_of=best_story,
            similarity=best_score,
            new_entries=dict.fromkeys(free_keys, best_story),
        )
    entries = dict.fromkeys(free_keys, article_id)
    entries[story_key(article_id)] = encode_signature(signature)
    return StoryLink(story_id=article_id, new_entries=entries)
