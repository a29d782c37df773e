"""The bundled demo feeds: well-formed, parsable, big and varied enough, with the bursts the demo needs."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

import feedparser
import pytest
import yaml

from newswatch.demo.catalogue import DemoItem, all_items, demo_feed_files, load_demo_feeds
from newswatch.demo.feeds_file import BASE_PLACEHOLDER, demo_feed_entries, feeds_template, render_feeds_file

FEEDS = load_demo_feeds()
ITEMS = all_items(FEEDS)
WINDOW = timedelta(minutes=15)

# Multilingual stems, enough to recognise the demo's own coverage (not a tagger).
TALKS_TERMS = tuple(
    "nato нато otan osce osze обсе обсє obwe ryabkov рябков rjabkow riabkov riabkow stoltenberg столтенберг"
    " sherman шерман grushko грушко gruschko grouchko gruszko".split()
)
BUILDUP_TERMS = tuple(
    "troops soldiers truppen soldaten troupes soldats renforts войск военнослужащ військ wojsk żołnierzy"
    " tropas soldados".split()
)


def _mentions(item: DemoItem, terms: Iterable[str]) -> bool:
    text = item.text.lower()
    return any(term in text for term in terms)


def _densest_windows(items: list[DemoItem], min_items: int, min_feeds: int) -> list[list[DemoItem]]:
    """Disjoint 15-minute windows (by article time) holding >= min_items from >= min_feeds feeds."""
    dated = sorted((item for item in items if item.published), key=lambda item: item.published)
    windows: list[list[DemoItem]] = []
    index = 0
    while index < len(dated):
        start = dated[index].published
        inside = [item for item in dated[index:] if item.published < start + WINDOW]
        if len(inside) >= min_items and len({item.feed for item in inside}) >= min_feeds:
            windows.append(inside)
            index += len(inside)
        else:
            index += 1
    return windows


@pytest.mark.parametrize("path", demo_feed_files(), ids=lambda path: path.name)
def test_every_file_is_well_formed_xml_and_parsed_cleanly_by_feedparser(path):
    raw = path.read_bytes()
    ET.fromstring(raw)  # raises on malformed XML
    parsed = feedparser.parse(raw)  # bytes, so feedparser honours the declared encoding itself
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version in ("rss20", "atom10")
    feed = next(feed for feed in FEEDS if feed.filename == path.name)
    assert len(parsed.entries) == len(feed.items) > 0
    assert all(entry.get("title") for entry in parsed.entries)


def test_a_few_hundred_items_from_many_sources_in_many_languages():
    assert len(ITEMS) >= 300
    assert len(FEEDS) >= 12
    languages = {feedparser.parse(path.read_bytes()).feed.language.split("-")[0] for path in demo_feed_files()}
    assert {"en", "ru", "uk", "de", "fr", "pl"} <= languages
    assert len(languages) >= 6


def test_items_are_dated_8_to_14_january_2022():
    dates = {item.published.date().isoformat() for item in ITEMS if item.published}
    assert min(dates) >= "2022-01-08" and max(dates) <= "2022-01-14"
    assert len(dates) >= 5


def test_identities_are_unique_and_links_are_on_example_domains():
    assert len({item.uid for item in ITEMS}) == len(ITEMS)
    links = [item.link for item in ITEMS if item.link]
    assert len(set(links)) == len(links)
    for link in links:
        host = urlsplit(link).hostname or ""
        assert host.endswith((".example", "example.com", "example.net", "example.org")), link


def test_awkward_items_are_present():
    raw = "".join(item.raw for item in ITEMS)
    assert any(item.published is None for item in ITEMS), "an item without a date"
    assert any(item.link is None for item in ITEMS), "an item with a guid but no link"
    assert "<![CDATA[" in raw and "<content:encoded>" in raw
    assert "&amp;nbsp;" in raw and "&laquo;" in raw and "&#8217;" in raw, "entities for the normaliser"
    assert "utm_source=" in raw, "tracking parameters for URL canonicalisation"


def test_near_duplicate_wire_copies_exist():
    language = {feed.filename: feed.language.split("-")[0] for feed in FEEDS}

    def words(text: str) -> set[str]:
        return set(re.findall(r"\w{4,}", text.lower()))

    close_copies = 0
    for first, second in itertools.combinations([item for item in ITEMS if item.published], 2):
        if first.feed == second.feed or language[first.feed] != language[second.feed]:
            continue
        if abs(first.published - second.published) > timedelta(hours=2) or first.title == second.title:
            continue
        a, b = words(first.summary), words(second.summary)
        if len(a & b) / len(a | b) >= 0.6:
            close_copies += 1
    assert close_copies >= 20


def test_talks_coverage_bursts_geneva_brussels_vienna():
    talks = [item for item in ITEMS if _mentions(item, TALKS_TERMS)]
    windows = _densest_windows(talks, min_items=5, min_feeds=2)
    days = {window[0].published.date().isoformat() for window in windows}
    assert {"2022-01-10", "2022-01-12", "2022-01-13"} <= days


def test_troop_buildup_coverage_bursts():
    buildup = [item for item in ITEMS if _mentions(item, BUILDUP_TERMS)]
    windows = _densest_windows(buildup, min_items=5, min_feeds=2)
    assert len(windows) >= 2
    text = " ".join(item.text for window in windows for item in window)
    assert "100" in text and "Belgorod" in text


def test_plenty_of_unrelated_news():
    unrelated = [item for item in ITEMS if not _mentions(item, TALKS_TERMS + BUILDUP_TERMS)]
    assert len(unrelated) >= 120


def test_feeds_file_template_lists_every_demo_file():
    entries = yaml.safe_load(feeds_template())
    names = sorted(entry["url"].removeprefix(f"{BASE_PLACEHOLDER}/feeds/") for entry in entries)
    assert names == sorted(path.name for path in demo_feed_files())
    for entry in entries:
        assert set(entry) == {"url", "name", "language", "country", "interval"}
        assert entry["url"].startswith(BASE_PLACEHOLDER)
        assert 1 <= entry["interval"] <= 5


def test_render_feeds_file_points_every_url_at_the_server():
    rendered = render_feeds_file("http://127.0.0.1:8765/")
    assert BASE_PLACEHOLDER not in rendered
    entries = demo_feed_entries("http://127.0.0.1:8765")
    assert len(entries) == len(FEEDS)
    assert all(entry["url"].startswith("http://127.0.0.1:8765/feeds/") for entry in entries)
    assert yaml.safe_load(rendered) == entries


@pytest.mark.parametrize("bad", ["127.0.0.1:8765", "ftp://host", "http://host/?q=1", 'http://ho"st'])
def test_render_feeds_file_rejects_bad_base_urls(bad):
    with pytest.raises(ValueError):
        render_feeds_file(bad)
