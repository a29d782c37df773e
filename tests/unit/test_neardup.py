"""Near-duplicate linking: copies of one wire story share a story id; other stories do not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.neardup import (
    MIN_SHINGLES,
    NUM_BANDS,
    NUM_BINS,
    Signature,
    StoryLink,
    band_keys,
    decode_signature,
    encode_signature,
    link,
    normalise_for_sketch,
    python_signature,
    similarity,
    sketch,
    story_key,
)

# One invented wire story, and the copies that outlets publish after light edits.
WIRE = (
    "GENEVA, Jan 10 (Wire) - Senior Russian and American diplomats ended eight hours of talks in Geneva on "
    "Monday without a breakthrough, but both sides said they were ready to keep talking about security in "
    "Europe. The Russian deputy foreign minister told reporters that Moscow needed legally binding "
    "guarantees that the alliance would stop expanding east and would not station strike weapons near its "
    "borders. The American delegation called those demands impossible to accept and said no decision about "
    "Ukraine would be taken without Ukraine. Both delegations said they had discussed limits on missile "
    "deployments and on the size of military exercises, an area where officials see some room for a deal. "
    "Further meetings are planned in Brussels on Wednesday and in Vienna on Thursday. Diplomats in the "
    "Swiss city described the atmosphere as frank and businesslike, with no sign of the shouting matches "
    "that marked earlier rounds."
)

NEW_HEADLINE_AND_DATELINE = (
    "Geneva talks end without breakthrough as Moscow presses for guarantees\n"
    "GENEVA (Newsroom) — Senior Russian and American diplomats ended eight hours of talks in Geneva on "
    "Monday without a breakthrough, but both sides said they were ready to keep talking about security in "
    "Europe. The Russian deputy foreign minister told reporters that Moscow needed legally binding "
    "guarantees that the alliance would stop expanding east and would not station strike weapons near its "
    "borders. The American delegation called those demands impossible to accept and said no decision about "
    "Ukraine would be taken without Ukraine. Both delegations said they had discussed limits on missile "
    "deployments and on the size of military exercises, an area where officials see some room for a deal. "
    "Further meetings are planned in Brussels on Wednesday and in Vienna on Thursday. Diplomats in the "
    "Swiss city described the atmosphere as frank and businesslike, with no sign of the shouting matches "
    "that marked earlier rounds."
)

SENTENCE_REMOVED = WIRE.replace(
    "Both delegations said they had discussed limits on missile deployments and on the size of military "
    "exercises, an area where officials see some room for a deal. ",
    "",
)

SENTENCE_ADDED_AND_WORDS_CHANGED = (
    WIRE.replace("Monday", "Monday evening").replace("impossible to accept", "unacceptable")
    + " A spokesman for the alliance said its foreign ministers would meet next month to review the results."
)

# Other stories on the same topic, with much of the same vocabulary.
SAME_TOPIC_OTHER_STORY = (
    "BRUSSELS, Jan 12 (Wire) - The alliance and Russia held their first council meeting in more than two "
    "years in Brussels on Wednesday, two days after talks in Geneva between Russian and American diplomats. "
    "The alliance's secretary general said members were ready to discuss arms control and transparency of "
    "military exercises, but would not accept Moscow's demand to close the door to new members such as "
    "Ukraine. The Russian deputy foreign minister said the meeting had shown deep differences on "
    "fundamental questions and that Moscow would decide its next steps after studying written answers. "
    "Officials from several member states said the tone was serious and that no date was set for another "
    "session of the council."
)

SAME_TOPIC_ANALYSIS = (
    "Analysis: what Moscow wants from the security talks in Europe. Russian officials have set out two "
    "draft treaties, one with Washington and one with the alliance, asking for guarantees that Ukraine and "
    "Georgia will never join and that forces deployed since 1997 will be withdrawn. Western diplomats say "
    "the demands are written to be refused, yet they see room for a deal on missile deployments and on "
    "the size of military exercises. The coming week of meetings in Geneva, Brussels and Vienna will show "
    "whether either side is ready to move."
)


def sig(text: str) -> Signature:
    return sketch(text)


def test_signature_shape_and_determinism() -> None:
    signature = sig(WIRE)
    assert len(signature.values) == NUM_BINS
    assert all(0 <= value < 2**32 for value in signature.values)
    assert sig(WIRE) == signature
    assert len(band_keys(signature)) == NUM_BANDS


def test_formatting_case_and_punctuation_do_not_change_the_signature() -> None:
    reformatted = WIRE.upper().replace(" - ", " — ").replace(",", " ,").replace("  ", " ")
    assert sig(reformatted) == sig(WIRE)


@pytest.mark.parametrize("copy", [NEW_HEADLINE_AND_DATELINE, SENTENCE_REMOVED, SENTENCE_ADDED_AND_WORDS_CHANGED])
def test_lightly_edited_copies_are_similar(copy: str) -> None:
    assert similarity(sig(WIRE), sig(copy)) >= 0.6


@pytest.mark.parametrize("other", [SAME_TOPIC_OTHER_STORY, SAME_TOPIC_ANALYSIS])
def test_other_stories_on_the_same_topic_are_not(other: str) -> None:
    assert similarity(sig(WIRE), sig(other)) < 0.2


def link_all(texts: list[tuple[str, str]]) -> dict[str, StoryLink]:
    """Link articles in order through one dict of state, as the Faust table would."""
    state: dict[str, str] = {}
    links = {}
    for article_id, text in texts:
        result = link(article_id, sig(text), state.get)
        state.update(result.new_entries)
        links[article_id] = result
    return links


def test_copies_link_to_the_first_article_and_other_stories_start_their_own() -> None:
    links = link_all(
        [
            ("wire", WIRE),
            ("council", SAME_TOPIC_OTHER_STORY),
            ("copy-headline", NEW_HEADLINE_AND_DATELINE),
            ("analysis", SAME_TOPIC_ANALYSIS),
            ("copy-shorter", SENTENCE_REMOVED),
            ("copy-longer", SENTENCE_ADDED_AND_WORDS_CHANGED),
        ]
    )
    assert {a: (r.story_id, r.duplicate_of) for a, r in links.items()} == {
        "wire": ("wire", None),
        "council": ("council", None),
        "copy-headline": ("wire", "wire"),
        "analysis": ("analysis", None),
        "copy-shorter": ("wire", "wire"),
        "copy-longer": ("wire", "wire"),
    }
    assert links["copy-headline"].similarity >= 0.6


def test_a_new_story_writes_its_band_keys_and_signature() -> None:
    result = link("wire", sig(WIRE), {}.get)
    assert result == StoryLink("wire", None, 1.0, result.new_entries)
    assert set(band_keys(sig(WIRE))) <= set(result.new_entries)
    assert decode_signature(result.new_entries[story_key("wire")]) == sig(WIRE)


def test_replays_give_the_same_answer_and_write_nothing_new() -> None:
    state: dict[str, str] = {}
    first = link("wire", sig(WIRE), state.get)
    state.update(first.new_entries)
    copy = link("copy", sig(NEW_HEADLINE_AND_DATELINE), state.get)
    state.update(copy.new_entries)

    assert link("wire", sig(WIRE), state.get) == StoryLink("wire")
    again = link("copy", sig(NEW_HEADLINE_AND_DATELINE), state.get)
    assert (again.story_id, again.duplicate_of) == ("wire", "wire")
    assert again.new_entries == {}


def test_band_keys_are_never_overwritten() -> None:
    state: dict[str, str] = {}
    for article_id, text in [("wire", WIRE), ("copy", SENTENCE_ADDED_AND_WORDS_CHANGED)]:
        result = link(article_id, sig(text), state.get)
        assert not set(result.new_entries) & set(state)
        state.update(result.new_entries)


def test_expired_story_records_are_skipped_not_trusted() -> None:
    state: dict[str, str] = {}
    state.update(link("wire", sig(WIRE), state.get).new_entries)
    del state[story_key("wire")]  # e.g. a table with a shorter retention for signatures
    result = link("copy", sig(NEW_HEADLINE_AND_DATELINE), state.get)
    assert (result.story_id, result.duplicate_of) == ("copy", None)


def test_texts_too_short_to_compare_are_their_own_story() -> None:
    assert sig("").values == ()
    short = sig("Live updates")
    assert short.shingles < MIN_SHINGLES and band_keys(short) == []
    state: dict[str, str] = {}
    for article_id in ("a", "b"):
        result = link(article_id, short, state.get)
        assert (result.story_id, result.new_entries) == (article_id, {})
        state.update(result.new_entries)


def test_signature_encoding_round_trips() -> None:
    signature = sig(SAME_TOPIC_ANALYSIS)
    assert decode_signature(encode_signature(signature)) == signature


def test_signatures_are_stable_across_processes() -> None:
    # Workers compare signatures written by other workers: nothing may depend on hash() seeding.
    code = "from streams.neardup import sketch, band_keys; print(band_keys(sketch(open(0).read()))[:3])"
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], input=WIRE, capture_output=True, text=True, env=env, check=True
        )
        outputs.add(done.stdout)
    outputs.add(str(band_keys(sig(WIRE))[:3]) + "\n")
    assert len(outputs) == 1


def test_the_sketch_algorithm_is_pinned() -> None:
    # Signatures live in a Faust table across deployments. If this test fails, the sketch changed
    # and every stored story stops matching new copies: change it deliberately (and start a fresh
    # table), never by accident. Band keys are derived in memory from the signatures; they are pinned
    # too, so that a change to them is a deliberate one.
    text = "Diplomats met in Geneva on Monday and agreed to meet again in Vienna next week."
    signature = sketch(text)
    assert signature == python_signature(normalise_for_sketch(text))  # the compiled one, when installed
    assert signature.values[:4] == (2519582624, 2519582624, 4286005020, 2356644128)
    assert band_keys(signature)[:2] == [
        "b:0:a0c72d96a0c72d961c3f77ff2089778c",
        "b:1:2c8167d379401f211c3f77ff2c8167d3",
    ]
