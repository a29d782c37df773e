"""The in-memory band index finds the same stories as a fully persisted one, and persists only signatures."""

from __future__ import annotations

from streams.neardup import band_keys, link, sketch
from streams.story_index import StoryIndex

WIRE = (
    "Senior diplomats from Russia and the thirty allies met in Brussels on Wednesday for the first council "
    "session in more than two years, discussing Moscow's demands for written security guarantees and the "
    "troops gathered near the Ukrainian border, officials said after the four-hour meeting."
)
COPY = WIRE.replace("officials said after the four-hour meeting.", "a spokesman told reporters afterwards.")
OTHER = "Heavy snow closed mountain passes in the north on Tuesday and the rail operator cancelled night trains."


def test_only_signatures_are_persisted_and_copies_still_link() -> None:
    table: dict[str, str] = {}
    index = StoryIndex()
    first = link("a1", sketch(WIRE), lambda key: index.lookup(table.get, key))
    persisted = index.record(first.new_entries)
    assert set(persisted) == {"s:a1"} and len(first.new_entries) > 1
    table.update(persisted)
    copy = link("a2", sketch(COPY), lambda key: index.lookup(table.get, key))
    assert copy.story_id == "a1" and copy.duplicate_of == "a1"
    other = link("a3", sketch(OTHER), lambda key: index.lookup(table.get, key))
    assert other.story_id == "a3"


def test_a_restarted_worker_rebuilds_the_bands_from_the_table() -> None:
    table: dict[str, str] = {}
    writer = StoryIndex()
    table.update(writer.record(link("a1", sketch(WIRE), lambda key: writer.lookup(table.get, key)).new_entries))
    restarted = StoryIndex()
    restarted.sync(table)
    assert set(restarted.bands) == set(band_keys(sketch(WIRE)))
    assert restarted.pending == {}  # read from the table: no second copy kept
    copy = link("a2", sketch(COPY), lambda key: restarted.lookup(table.get, key))
    assert copy.story_id == "a1"


def test_the_table_is_scanned_once_then_learnt_record_by_record() -> None:
    class CountingTable(dict[str, str]):
        scans = 0

        def items(self):  # type: ignore[override]
            CountingTable.scans += 1
            return super().items()

    table = CountingTable()
    other_worker = StoryIndex()
    table.update(
        other_worker.record(link("a1", sketch(WIRE), lambda key: other_worker.lookup(table.get, key)).new_entries)
    )
    index = StoryIndex()
    index.sync(table)
    index.sync(table)
    assert CountingTable.scans == 1
    # A story another worker founds later arrives as a changelog record, never through a rescan.
    founded = other_worker.record(
        link("a3", sketch(OTHER), lambda key: other_worker.lookup(table.get, key)).new_entries
    )
    for key, value in founded.items():
        index.learn(key, value)
        table[key] = value
    index.sync(table)
    assert CountingTable.scans == 1
    assert set(band_keys(sketch(OTHER))) <= set(index.bands)
    assert link("a4", sketch(OTHER), lambda key: index.lookup(table.get, key)).story_id == "a3"


def test_learn_takes_raw_records_and_ignores_what_is_not_a_signature() -> None:
    writer, table = StoryIndex(), {}
    encoded = writer.record(link("a1", sketch(WIRE), lambda key: writer.lookup(table.get, key)).new_entries)["s:a1"]
    index = StoryIndex()
    index.learn("s:gone", None)  # a tombstone (expired state)
    index.learn("b:0:ffff", "a1")  # a band key from an older version's changelog
    index.learn(None, encoded)
    assert index.bands == {} and index.indexed == set()
    index.learn(b"s:a1", encoded.encode())
    assert set(index.bands) == set(band_keys(sketch(WIRE)))
    assert index.indexed == {"s:a1"}


def test_a_learnt_signature_is_found_before_the_table_applies_it() -> None:
    writer, table = StoryIndex(), {}
    founded = writer.record(link("a1", sketch(WIRE), lambda key: writer.lookup(table.get, key)).new_entries)
    other_worker, its_table = StoryIndex(), {}  # Faust has not applied the record to this table yet
    for key, value in founded.items():
        other_worker.learn(key, value)
    copy = link("a2", sketch(COPY), lambda key: other_worker.lookup(its_table.get, key))
    assert copy.story_id == "a1" and copy.duplicate_of == "a1"
    its_table.update(founded)
    other_worker.prune_at = 1
    other_worker.sync(its_table)
    assert other_worker.pending == {}  # the table holds it now: no second copy kept
