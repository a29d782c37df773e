"""Throughput of the tagger on one core: articles per second for ~1 KB articles with the full rule set.

    .venv/bin/python bench/tag_throughput.py [--articles N] [--repeat N] [--rules FILE ...]

Articles are ~1,000 characters of title + text, each padded with more text of its own language, in all
seven corpus languages. Two streams are measured:

* news stream - what a monitor receives: 90% general news (tests/corpus/tagging/background) and 10%
  on-topic articles (the development corpus). The target (>= 5,000/s) is about this stream.
* on-topic    - only development-corpus articles, every one dense with the rules' vocabulary: the worst
  case, where every sentence is scored.

For each stream three figures are printed:

* tagger          - `Tagger.tag(title, text, lang)` with the language given (the pure tagger)
* tagger+langid   - the same with the language detected (what happens when the input has no "lang")
* newswatch tag   - one JSON line in -> one JSON line out, as the CLI does it (with `lang` in the input)

Single process, single thread: that is one core. Rates are per second of CPU time (see `measure`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from streams.tag_command import tag_line
from streams.tagging import Tagger
from streams.tagging.evaluation import CorpusItem, load_corpus

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "tagging"
TARGET_CHARS = 1000
ON_TOPIC_SHARE = 0.10


def build_articles(items: list[CorpusItem], count: int) -> list[dict[str, str]]:
    """`count` articles of about TARGET_CHARS characters, cycling through `items`."""
    by_lang: dict[str, list[CorpusItem]] = defaultdict(list)
    for item in items:
        by_lang[item.lang].append(item)
    articles = []
    for number, item in enumerate(itertools.islice(itertools.cycle(items), count)):
        text = item.text
        fillers = itertools.cycle(other.text for other in by_lang[item.lang] if other is not item)
        while len(item.title) + len(text) < TARGET_CHARS:
            text = f"{text}\n{next(fillers)}"
        text = text[: TARGET_CHARS - len(item.title)]
        articles.append({"id": f"{item.id}#{number}", "lang": item.lang, "title": item.title, "text": text})
    return articles


def news_stream(on_topic: list[dict[str, str]], general: list[dict[str, str]]) -> list[dict[str, str]]:
    """Interleave: one on-topic article every 1/ON_TOPIC_SHARE articles, general news otherwise."""
    every = round(1 / ON_TOPIC_SHARE)
    topical, background = iter(on_topic), iter(general)
    return [next(topical) if number % every == 0 else next(background) for number in range(len(general))]


def measure(label: str, run, articles: list[dict[str, str]], repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Articles per second of CPU time of this (single-threaded) process, i.e. of one core.

    CPU time rather than wall time, and the best of `repeat` runs (as `timeit` does), so that other work
    on a shared machine distorts the figure as little as possible; the wall-clock rate is printed too.
    """
    run(articles[: min(200, len(articles))])  # warm-up: caches, language model
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run(articles)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    rate = len(articles) / best_cpu
    print(
        f"{label:<16} {rate:10,.0f} articles/s   ({best_cpu * 1e6 / len(articles):6.1f} µs CPU/article; "
        f"wall clock {len(articles) / best_wall:,.0f}/s)"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the best one counts")
    parser.add_argument("--rules", action="append", type=Path)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    tagger = Tagger.from_paths(args.rules) if args.rules else Tagger.default()
    tagger.tag("warm-up", "Russia masses troops near the border.", lang="en")  # builds the normaliser's table
    build_seconds = time.perf_counter() - started
    on_topic = build_articles(load_corpus(sorted(CORPUS_DIR.glob("*.jsonl"))), args.articles)
    general = build_articles(load_corpus(sorted((CORPUS_DIR / "background").glob("*.jsonl"))), args.articles)
    streams = {"news stream": news_stream(on_topic, general), "on-topic": on_topic}
    print(
        f"rules: {len(tagger.tag_names)} tags, {len(tagger.rules.entries)} terms in one automaton "
        f"(built in {build_seconds:.2f} s)"
    )
    mean_chars = sum(len(a["title"]) + len(a["text"]) for a in on_topic) / len(on_topic)
    print(
        f"articles: {args.articles:,} per stream, mean {mean_chars:,.0f} characters (title + text), "
        f"7 languages; best of {args.repeat} runs\n"
    )

    rates = {}
    for name, articles in streams.items():
        print(f"{name} ({sum(a in on_topic for a in articles[:1000]) / 10:.0f}% on-topic):")
        rates[name] = _measure_stream(tagger, articles, args.repeat)
        print()
    rate = rates["news stream"]
    print(
        f"target >= 5,000 articles/s (tagger, news stream): {'met' if rate >= 5000 else 'NOT met'} "
        f"({rate:,.0f}/s); on-topic worst case {rates['on-topic']:,.0f}/s"
    )
    return 0


def _measure_stream(tagger: Tagger, articles: list[dict[str, str]], repeat: int) -> float:
    def tag_given_lang(batch):  # type: ignore[no-untyped-def]
        for article in batch:
            tagger.tag(article["title"], article["text"], lang=article["lang"])

    def tag_detect_lang(batch):  # type: ignore[no-untyped-def]
        for article in batch:
            tagger.tag(article["title"], article["text"])

    lines = [json.dumps(article, ensure_ascii=False).encode() for article in articles]

    def tag_json_lines(batch):  # type: ignore[no-untyped-def]
        for number, line in enumerate(lines[: len(batch)], 1):
            json.dumps(tag_line(tagger, line, number), ensure_ascii=False)

    rate = measure("  tagger", tag_given_lang, articles, repeat)
    measure("  tagger+langid", tag_detect_lang, articles, repeat)
    measure("  newswatch tag", tag_json_lines, articles, repeat)
    return rate


if __name__ == "__main__":
    sys.exit(main())
