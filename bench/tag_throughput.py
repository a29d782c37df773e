"""Throughput of `newswatch tag` on one core: articles per second for ~1 KB articles with the full rule set.

    .venv/bin/python bench/tag_throughput.py [--articles N] [--repeat N] [--cpu N] [--no-subprocess]
                                             [--rules FILE ...] [--corpus DIR]

Articles are ~1,000 characters of title + text, each padded with more text of its own language, in all
seven corpus languages, written as the command's input (JSON Lines: id, lang, title, text). Three streams:

* mixed     - what a monitor receives: 90% general news (tests/corpus/tagging/background) and 10%
              on-topic articles (the development corpus). The target (>= 5,000/s) is about this stream.
* on-topic  - only development-corpus articles, every one dense with the rules' vocabulary: the worst
              case, where every sentence is scored and most articles carry evidence.
* off-topic - only general news: the best case, where most articles stop at the pre-check.

For each stream:

* `newswatch tag`, in-process - the command's own code path (`streams.tag_command.tag_lines`: JSON line
  in -> tag -> JSON line out), in this process pinned to one CPU (`--cpu`); rate per second of this
  process's CPU time. Measured twice: with `lang` in the input, and without it (detected, as the contract
  allows: the language model then runs on every article).
* `newswatch tag`, subprocess - the installed command itself, `taskset -c CPU newswatch tag FILE >
  /dev/null`, rate per second of the child's CPU time (user + system, from wait4) on the stream less
  that of the same command on a one-line file, so the start-up (imports, rules, model: ~1 s) is not
  counted. With `lang` in the input. Skipped with `--no-subprocess`.
* tagger - `Tagger.tag(title, text, lang)` alone, for reference (no JSON, language given).

Each figure is the median of `--repeat` runs (min-max in brackets): CPU time rather than wall time, so
that other work on a shared machine distorts the figure as little as possible.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from streams.tag_command import tag_lines
from streams.tagging import Tagger
from streams.tagging.evaluation import CorpusItem, load_corpus

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "tagging"
TARGET_CHARS = 1000
ON_TOPIC_SHARE = 0.10
TARGET_RATE = 5000


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


def mixed_stream(on_topic: list[dict[str, str]], general: list[dict[str, str]]) -> list[dict[str, str]]:
    """Interleave: one on-topic article every 1/ON_TOPIC_SHARE articles, general news otherwise."""
    every = round(1 / ON_TOPIC_SHARE)
    topical, background = iter(on_topic), iter(general)
    return [next(topical) if number % every == 0 else next(background) for number in range(len(general))]


def json_lines(articles: Sequence[dict[str, str]], *, with_lang: bool) -> list[bytes]:
    """The command's input lines (with their newline, as read from a file)."""
    return [
        (json.dumps(article if with_lang else _without_lang(article), ensure_ascii=False) + "\n").encode()
        for article in articles
    ]


def _without_lang(article: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in article.items() if key != "lang"}


class Figure:
    """Rates (articles per CPU-second) of repeated runs; the median is the figure."""

    def __init__(self, rates: list[float]) -> None:
        self.rates = rates
        self.median = statistics.median(rates)

    def __str__(self) -> str:
        return (
            f"{self.median:8,.0f}/s  ({1e6 / self.median:6.1f} µs CPU/article; "
            f"runs {min(self.rates):,.0f}-{max(self.rates):,.0f})"
        )


def measure_in_process(run: Callable[[], object], count: int, repeat: int) -> Figure:
    """Articles per second of this (single-threaded, pinned) process's CPU time, `repeat` runs."""
    rates = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        rates.append(count / (time.process_time() - started))
    return Figure(rates)


def measure_subprocess(command: list[str], path: Path, one_line: Path, count: int, repeat: int) -> Figure:
    """Articles per second of the command's CPU time, start-up subtracted (see the module docstring)."""
    rates = []
    for _ in range(repeat):
        whole = _child_cpu_seconds([*command, str(path)])
        start_up = _child_cpu_seconds([*command, str(one_line)])
        rates.append((count - 1) / max(whole - start_up, 1e-9))
    return Figure(rates)


def _child_cpu_seconds(command: list[str]) -> float:
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(command, stdout=sink)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} exited with {child.returncode}")
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is reported")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="the one CPU to run on")
    parser.add_argument("--no-subprocess", action="store_true", help="skip the installed-command figures")
    parser.add_argument("--rules", action="append", type=Path)
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="the corpus directory (with background/)")
    args = parser.parse_args(argv)

    os.sched_setaffinity(0, {args.cpu})  # one core, as the figure is defined
    started = time.perf_counter()
    tagger = Tagger.from_paths(args.rules) if args.rules else Tagger.default()
    build_seconds = time.perf_counter() - started
    on_topic = build_articles(load_corpus(sorted(args.corpus.glob("*.jsonl"))), args.articles)
    general = build_articles(load_corpus(sorted((args.corpus / "background").glob("*.jsonl"))), args.articles)
    streams = {"mixed": mixed_stream(on_topic, general), "on-topic": on_topic, "off-topic": general}
    load = os.getloadavg()
    print(
        f"rules: {len(tagger.tag_names)} tags, {len(tagger.rules.entries)} terms in one automaton "
        f"(built in {build_seconds:.2f} s)\n"
        f"articles: {args.articles:,} per stream, mean "
        f"{statistics.mean(len(a['title']) + len(a['text']) for a in on_topic):,.0f} characters (title + text), "
        f"7 languages; median of {args.repeat} runs on CPU {args.cpu} of {os.cpu_count()}; "
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    command = _installed_command(args)
    headline: dict[str, Figure] = {}
    with tempfile.TemporaryDirectory(prefix="tag-throughput-") as scratch:
        for name, articles in streams.items():
            share = sum(article in on_topic for article in articles) / len(articles)
            print(f"{name} ({share:.0%} on-topic):")
            headline[name] = _measure_stream(tagger, articles, args, command, Path(scratch) / name)
            print()
    verdict = "met" if headline["mixed"].median >= TARGET_RATE else "NOT met"
    print(
        f"target >= {TARGET_RATE:,} articles/s (`newswatch tag` in-process, lang given, mixed stream): {verdict}; "
        + ", ".join(f"{name} {figure.median:,.0f}/s" for name, figure in headline.items())
    )
    return 0


def _installed_command(args: argparse.Namespace) -> list[str] | None:
    if args.no_subprocess:
        return None
    executable = Path(sys.executable).with_name("newswatch")
    taskset = shutil.which("taskset")
    if not executable.exists() or taskset is None:
        print("(subprocess figures skipped: no newswatch command next to this Python, or no taskset)\n")
        return None
    rules = [option for path in args.rules or () for option in ("--rules", str(path))]
    return [taskset, "-c", str(args.cpu), str(executable), "tag", *rules]


def _measure_stream(
    tagger: Tagger, articles: list[dict[str, str]], args: argparse.Namespace, command: list[str] | None, stem: Path
) -> Figure:
    count, repeat = len(articles), args.repeat
    with_lang = json_lines(articles, with_lang=True)
    without_lang = json_lines(articles, with_lang=False)

    def command_path(lines: list[bytes]) -> Callable[[], object]:
        return lambda: sum(map(len, tag_lines(tagger, lines)))  # consume every output line, as stdout would

    def tagger_alone() -> None:
        for article in articles:
            tagger.tag(article["title"], article["text"], lang=article["lang"])

    for warm_up in (command_path(with_lang[:200]), command_path(without_lang[:200])):
        warm_up()  # caches, the language model
    headline = measure_in_process(command_path(with_lang), count, repeat)
    print(f"  newswatch tag, in-process, lang given     {headline}")
    detected = measure_in_process(command_path(without_lang), count, repeat)
    print(f"  newswatch tag, in-process, lang detected  {detected}")
    if command is not None:
        path, one_line = stem.with_suffix(".jsonl"), stem.with_suffix(".one.jsonl")
        path.write_bytes(b"".join(with_lang))
        one_line.write_bytes(with_lang[0])
        installed = measure_subprocess(command, path, one_line, count, repeat)
        print(f"  newswatch tag, subprocess, lang given     {installed}")
    print(f"  tagger alone (reference), lang given      {measure_in_process(tagger_alone, count, repeat)}")
    return headline


if __name__ == "__main__":
    sys.exit(main())
