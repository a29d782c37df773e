"""Parse CPU time per feed for the collectors' fixture corpus (figures only, no assertions).

    .venv/bin/python bench/parse_cpu.py [--min-seconds 0.3]

For each fixture feed, ``collectors.parse.parse_feed`` (guards + feedparser + normalisation to
Article) is run repeatedly until ``--min-seconds`` of process CPU time has accumulated; the mean
CPU time per parse is printed. Two synthetic feeds (50 entries with ~2 KB of HTML each, RSS and
Atom) are added as a "typical news feed" reference, since the fixtures are deliberately tiny.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from collectors.feeds import FeedConfig
from collectors.parse import parse_feed

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "feeds"
FETCHED = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)

_PARAGRAPH = (
    "<p>The harbour authority said on <b>Tuesday</b> that ferry services would resume &amp; that "
    "repairs to the <a href='/sea-wall'>sea wall</a> were ahead of schedule.</p>"
)


def synthetic_rss(entries: int = 50) -> bytes:
    items = "".join(
        f"<item><title>Story number {i} &amp; more</title>"
        f"<link>https://synthetic.example/{i}?utm_source=rss</link><guid>syn-{i}</guid>"
        f"<pubDate>Tue, 05 Mar 2024 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description><![CDATA[{_PARAGRAPH}]]></description>"
        f"<content:encoded><![CDATA[{_PARAGRAPH * 12}]]></content:encoded></item>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Synthetic</title>'
        f"<link>https://synthetic.example/</link>{items}</channel></rss>"
    ).encode()


def _escaped(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;")


def synthetic_atom(entries: int = 50) -> bytes:
    items = "".join(
        f'<entry><title>Story number {i}</title><link href="https://synthetic.example/a/{i}"/>'
        f"<id>urn:syn:{i}</id><updated>2024-03-05T{i % 24:02d}:00:00Z</updated>"
        f'<summary type="html">{_escaped(_PARAGRAPH)}</summary>'
        f'<content type="html">{_escaped(_PARAGRAPH * 12)}</content>'
        "</entry>"
        for i in range(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f'<title>Synthetic Atom</title><link href="https://synthetic.example/"/>{items}</feed>'
    ).encode()


def measure(body: bytes, feed: FeedConfig, min_seconds: float) -> tuple[float, int, int, str]:
    """(mean CPU seconds per parse, runs, articles, outcome)."""
    runs, samples = 0, []
    total_start = time.process_time()
    while True:
        start = time.process_time()
        parsed = parse_feed(body, feed, fetched_at=FETCHED)
        samples.append(time.process_time() - start)
        runs += 1
        if time.process_time() - total_start >= min_seconds and runs >= 3:
            break
    outcome = "ok" if parsed.ok else f"failed:{parsed.failure.kind}"  # type: ignore[union-attr]
    return statistics.fmean(samples), runs, len(parsed.articles), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-seconds", type=float, default=0.3, help="CPU seconds to spend per feed")
    args = parser.parse_args()

    corpus = [(path.name, path.read_bytes()) for path in sorted(FIXTURES.iterdir()) if path.is_file()]
    fixture_count = len(corpus)
    corpus += [
        ("synthetic_rss_50x2KB (synthetic)", synthetic_rss()),
        ("synthetic_atom_50x2KB (synthetic)", synthetic_atom()),
    ]

    row = "{:<40} {:>8} {:>8} {:>6} {:>13} {:>11}  {}"
    print(row.format("feed", "bytes", "articles", "runs", "CPU ms/parse", "ms/article", "outcome"))
    fixture_means = []
    for index, (name, body) in enumerate(corpus):
        feed = FeedConfig(url=f"https://bench{index}.example/feed.xml")
        mean, runs, articles, outcome = measure(body, feed, args.min_seconds)
        if index < fixture_count:
            fixture_means.append(mean)
        per_article = f"{mean * 1000 / articles:.3f}" if articles else "-"
        print(row.format(name, len(body), articles, runs, f"{mean * 1000:.3f}", per_article, outcome))
    mean_ms, median_ms = statistics.fmean(fixture_means) * 1000, statistics.median(fixture_means) * 1000
    print(
        f"\nfixture corpus: {fixture_count} feeds, mean {mean_ms:.3f} ms CPU per feed, "
        f"median {median_ms:.3f} ms, max {max(fixture_means) * 1000:.3f} ms"
    )


if __name__ == "__main__":
    main()
