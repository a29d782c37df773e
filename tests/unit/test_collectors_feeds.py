"""The feeds file: validation, defaults, stable ids and error messages an operator can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.feeds import (
    DEFAULT_INTERVAL_SECONDS,
    FeedConfig,
    FeedsFileError,
    feed_id_for_url,
    load_feeds,
    parse_feeds_yaml,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_feeds_with_defaults_and_normalised_hints(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
- url: https://www.example.org/rss.xml
  name: Example News
  language: EN-gb
  country: gb
  interval: 60
- url: http://other.example/feed
- url: file:///srv/feeds/local.xml
  interval: 1
""",
    )
    feeds = load_feeds(path)
    assert [f.url for f in feeds] == [
        "https://www.example.org/rss.xml",
        "http://other.example/feed",
        "file:///srv/feeds/local.xml",
    ]
    first, second, third = feeds
    assert (first.name, first.language, first.country, first.interval) == ("Example News", "en-gb", "GB", 60)
    assert second.interval == DEFAULT_INTERVAL_SECONDS and second.name is None and second.language is None
    assert third.interval == 1 and third.is_file and third.host == ""
    assert len({f.feed_id for f in feeds}) == 3


def test_feed_id_is_stable_and_ignores_only_representation_differences() -> None:
    base = feed_id_for_url("https://news.example/rss?section=world")
    assert feed_id_for_url("HTTPS://News.Example:443/rss?section=world#top") == base
    assert feed_id_for_url("https://news.example/rss?section=sport") != base
    assert feed_id_for_url("http://news.example/rss?section=world") != base
    assert len(base) == 16 and base == FeedConfig(url="https://news.example/rss?section=world").feed_id


@pytest.mark.parametrize(
    ("entry", "field", "fix_words"),
    [
        ("- url: https://a.example/rss\n  interval: 0", "interval", "whole seconds"),
        ("- url: https://a.example/rss\n  interval: 5m", "interval", "whole seconds"),
        ("- url: https://a.example/rss\n  interval: true", "interval", "whole seconds"),
        ("- url: https://a.example/rss\n  interval: 300000", "interval", "whole seconds"),
        ("- url: ftp://a.example/rss", "url", "full feed address"),
        ("- url: a.example/rss", "url", "full feed address"),
        ("- url: file:relative/feed.xml", "url", "full feed address"),
        ("- url: https://a.example/rss\n  intervall: 60", "intervall", "known fields are"),
        ("- url: https://a.example/rss\n  language: english!", "language", "language tag"),
        ("- url: https://a.example/rss\n  country: GBR", "country", "two-letter"),
        ("- name: no url here", "url", "full feed address"),
    ],
)
def test_bad_entry_message_names_file_entry_field_and_fix(
    tmp_path: Path, entry: str, field: str, fix_words: str
) -> None:
    path = write(tmp_path, "- url: https://fine.example/rss\n" + entry + "\n")
    with pytest.raises(FeedsFileError) as caught:
        load_feeds(path)
    message = str(caught.value)
    assert str(path) in message
    assert "feed #2" in message
    assert f"field {field!r}" in message
    assert "fix:" in message and fix_words in message


def test_every_bad_entry_is_reported_at_once() -> None:
    text = "- url: ftp://a.example/x\n- url: https://b.example/x\n  interval: -5\n"
    with pytest.raises(FeedsFileError) as caught:
        parse_feeds_yaml(text, source="feeds.yaml")
    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("feeds.yaml: feed #1 (ftp://a.example/x)")
    assert lines[1].startswith("feeds.yaml: feed #2 (https://b.example/x)")


def test_the_same_feed_twice_is_an_error() -> None:
    text = "- url: https://a.example/rss\n- url: HTTPS://A.example:443/rss\n"
    with pytest.raises(FeedsFileError, match=r"feed #2 .*repeats feed #1"):
        parse_feeds_yaml(text, source="feeds.yaml")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("feeds:\n  - url: https://a.example/rss\n", "must be a list"),
        ("", "the file is empty"),
        ("- url: [unclosed\n", "not valid YAML"),
        ("- https://a.example/rss\n", "expected a mapping"),
    ],
)
def test_file_level_problems(text: str, words: str) -> None:
    with pytest.raises(FeedsFileError, match=words):
        parse_feeds_yaml(text, source="feeds.yaml")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FeedsFileError, match="no such file"):
        load_feeds(tmp_path / "absent.yaml")
