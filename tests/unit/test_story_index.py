"""The in-memory band index finds the same stories as a fully persisted one, and persists only signatures.

Every test runs against both implementations: the Python one always, the compiled one (Rust,
``newswatch-native``) when it is installed; ``tests/unit/test_native.py`` compares the two at scale.
"""

from __future__ import annotations

import pytest

from streams import native
from streams.neardup import band_keys, sketch
from streams.story_index import PythonStoryIndex, StoryIndexLike, new_story_index

WIRE = (
    "Senior diplomats from Russia and the thirty allies met in Brussels on Wednesday for the first council "
    "session in more than two years, discussing Moscow's demands for written security guarantees and the "
    "troops gathered near the Ukrainian border, officials said after the four-hour meeting."
)
COPY = WIRE.replace("officials said after the four-hour meeting.", "a spokesman told reporters afterwards.")
OTHER = "Heavy snow closed mountain passes in the north on Tuesday and the rail operator cancelled night trains."

KINDS = [
    pytest.param(False, id="python"),
    pytest.param(
        True,
        id="compiled",
        marks=pytest.mark.skipif(not native.enabled(), reason="newswatch-native is not installed"),
    ),
]


@pytest.fixture(params=KINDS)
def make_index(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return lambda: new_story_index(compiled=request.param)


def found(index: StoryIndexLike, table: dict[str, str], article_id: str, text: str) -> dict[str, str]:
    """Link and record one emitted article; returns what the stage would persist."""
    return index.record(index.link(article_id, sketch(text), table.get))


def test_only_signatures_are_persisted_and_copies_still_link(make_index) -> None:  # type: ignore[no-untyped-def]
    table: dict[str, str] = {}
    index = make_index()
    first = index.link("a1", sketch(WIRE), table.get)
    persisted = index.record(first)
    assert set(persisted) == {"s:a1"}
    table.update(persisted)
    copy = index.link("a2", sketch(COPY), table.get)
    assert copy.story_id == "a1" and copy.duplicate_of == "a1"
    assert index.record(copy) == {}
    other = index.link("a3", sketch(OTHER), table.get)
    assert other.story_id == "a3" and other.duplicate_of is None


def test_a_founder_seen_again_stays_in_its_own_story(make_index) -> None:  # type: ignore[no-untyped-def]
    table: dict[str, str] = {}
    index = make_index()
    table.update(found(index, table, "a1", WIRE))
    again = index.link("a1", sketch(COPY), table.get)  # a new version of the first article
    assert (again.story_id, again.duplicate_of, again.new_entries) == ("a1", None, {})


def test_a_restarted_worker_rebuilds_the_bands_from_the_table(make_index) -> None:  # type: ignore[no-untyped-def]
    table: dict[str, str] = {}
    table.update(found(make_index(), table, "a1", WIRE))
    restarted = make_index()
    restarted.sync(table)
    copy = restarted.link("a2", sketch(COPY), table.get)
    assert copy.story_id == "a1"


def test_the_table_is_scanned_once_then_learnt_record_by_record(make_index) -> None:  # type: ignore[no-untyped-def]
    class CountingTable(dict[str, str]):
        scans = 0

        def items(self):  # type: ignore[override]
            CountingTable.scans += 1
            return super().items()

    table = CountingTable()
    other_worker = make_index()
    table.update(found(other_worker, table, "a1", WIRE))
    index = make_index()
    index.sync(table)
    index.sync(table)
    assert CountingTable.scans == 1
    # A story another worker founds later arrives as a changelog record, never through a rescan.
    for key, value in found(other_worker, table, "a3", OTHER).items():
        index.learn(key, value)
        table[key] = value
    index.sync(table)
    assert CountingTable.scans == 1
    assert index.link("a4", sketch(OTHER), table.get).story_id == "a3"


def test_learn_takes_raw_records_and_ignores_what_is_not_a_signature(make_index) -> None:  # type: ignore[no-untyped-def]
    encoded = found(make_index(), {}, "a1", WIRE)["s:a1"]
    index, empty = make_index(), {}
    index.learn("s:gone", None)  # a tombstone (expired state)
    index.learn("b:0:ffff", "a1")  # a band key from an older version's changelog
    index.learn(None, encoded)
    assert index.link("a2", sketch(COPY), empty.get).story_id == "a2"
    index.learn(b"s:a1", encoded.encode())
    assert index.link("a3", sketch(COPY), empty.get).story_id == "a1"


def test_a_learnt_signature_is_found_before_the_table_applies_it(make_index) -> None:  # type: ignore[no-untyped-def]
    founded = found(make_index(), {}, "a1", WIRE)
    other_worker, its_table = make_index(), {}  # Faust has not applied the record to this table yet
    for key, value in founded.items():
        other_worker.learn(key, value)
    copy = other_worker.link("a2", sketch(COPY), its_table.get)
    assert copy.story_id == "a1" and copy.duplicate_of == "a1"


def test_the_python_index_keeps_a_learnt_signature_only_until_the_table_holds_it() -> None:
    founded = found(PythonStoryIndex(), {}, "a1", WIRE)
    index, table = PythonStoryIndex(), {}
    for key, value in founded.items():
        index.learn(key, value)
    assert set(index.pending) == {"s:a1"} and set(band_keys(sketch(WIRE))) == set(index.bands)
    table.update(founded)
    index.prune_at = 1
    index.sync(table)
    assert index.pending == {}  # the table holds it now: no second copy kept
