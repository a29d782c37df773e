"""Feeds polled per second by one collector replica, and its CPU time per feed (figures, no assertions).

    .venv/bin/python bench/collector_throughput.py [--feeds 400] [--seconds 15] [--modes 304,changed,unchanged]

Needs the local stack (`newswatch stack up`). A local aiohttp server (its own process, so its CPU is not
counted) serves ``--feeds`` RSS feeds of 20 items (~9 KB); one real `newswatch collect` replica (its
own process, real Kafka transactions) polls them all every second, which is more than it can do, so
it runs flat out. After a warm-up, the replica's ``polls_total`` and process CPU time are sampled
over ``--seconds``. Modes, as the server answers each poll:

- ``304``:       ETag/Last-Modified and 304 Not Modified (the common case for a healthy feed);
- ``changed``:   200 with one new item each time: fetch, parse, dedupe, one new article in Kafka;
- ``unchanged``: 200 with the same bytes and no validators (skipped by the body hash, not parsed).

All feeds are on one host (127.0.0.1), so the per-host limit is raised to the overall concurrency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import yaml

from newswatch.stack.process import free_port

REPO = Path(__file__).resolve().parents[1]
ITEMS = 20
TEXT = (
    "The harbour authority said on Tuesday that ferry services would resume and that repairs to the "
    "sea wall were ahead of schedule, officials told reporters in the port city. "
)


def render(feed: int, newest: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {feed} story {n}</title><link>https://bench.example/{feed}/{n}</link>"
        f"<guid>bench-{feed}-{n}</guid><pubDate>Wed, 12 Jan 2022 09:00:00 GMT</pubDate>"
        f"<description>{TEXT * 2}</description></item>"
        for n in range(newest, newest - ITEMS, -1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>https://bench.example/{feed}</link>{items}</channel></rss>"
    ).encode()


def serve(port: int, mode: str, requests: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    from aiohttp import web

    counters: dict[int, int] = {}

    async def feed(request: web.Request) -> web.Response:
        number = int(request.match_info["number"])
        with requests.get_lock():  # type: ignore[attr-defined]
            requests.value += 1  # type: ignore[attr-defined]
        if mode == "changed":
            counters[number] = counters.get(number, ITEMS) + 1
            return web.Response(body=render(number, counters[number]), content_type="application/rss+xml")
        body = render(number, ITEMS)
        if mode == "unchanged":
            return web.Response(body=body, content_type="application/rss+xml")
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": etag})

    app = web.Application()
    app.router.add_get("/feed/{number}.xml", feed)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def counter(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name))


def run_mode(mode: str, feeds: int, seconds: float, warmup: float, concurrency: int) -> dict[str, float]:
    feed_port, metrics_port = free_port(), free_port()
    requests = multiprocessing.Value("l", 0)
    server = multiprocessing.Process(target=serve, args=(feed_port, mode, requests), daemon=True)
    server.start()
    prefix = f"bench-{mode}-{os.getpid()}-{int(time.time())}."
    with tempfile.TemporaryDirectory() as tmp:
        feeds_file = Path(tmp) / "feeds.yaml"
        entries = [{"url": f"http://127.0.0.1:{feed_port}/feed/{n}.xml", "interval": 1} for n in range(feeds)]
        feeds_file.write_text(yaml.safe_dump(entries))
        env = {
            **os.environ,
            "NEWSWATCH_TOPIC_PREFIX": prefix,
            "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES": "true",
            "NEWSWATCH_COLLECTOR_METRICS_PORT": str(metrics_port),
            "NEWSWATCH_COLLECTOR_CONCURRENCY": str(concurrency),
            "NEWSWATCH_COLLECTOR_PER_HOST_CONCURRENCY": str(concurrency),
            "NEWSWATCH_LOG_LEVEL": "WARNING",
        }
        log = (Path(tmp) / "collector.log").open("wb")
        collector = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "collect", "--feeds", str(feeds_file)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if json.loads(get(f"http://127.0.0.1:{metrics_port}/health")).get("owned_feeds") == feeds:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or collector.poll() is not None:
                    raise RuntimeError(f"the collector did not start; see its log:\n{Path(log.name).read_text()}")
                time.sleep(0.3)
            # The first poll of every feed emits all its items (feeds x 20 articles): measure after that backlog.
            while counter(get(f"http://127.0.0.1:{metrics_port}/metrics"), "newswatch_collector_articles_total") < (
                feeds * ITEMS
            ):
                if time.monotonic() > deadline + 120 or collector.poll() is not None:
                    raise RuntimeError(f"the first round did not complete; see {Path(log.name).read_text()[-2000:]}")
                time.sleep(0.5)
            time.sleep(warmup)
            process = psutil.Process(collector.pid)
            before, cpu_before, served_before = (
                get(f"http://127.0.0.1:{metrics_port}/metrics"),
                process.cpu_times(),
                requests.value,
            )
            start = time.monotonic()
            time.sleep(seconds)
            after, cpu_after, served_after = (
                get(f"http://127.0.0.1:{metrics_port}/metrics"),
                process.cpu_times(),
                requests.value,
            )
            elapsed = time.monotonic() - start
        finally:
            collector.send_signal(signal.SIGTERM)
            collector.wait(60)
            server.terminate()
            server.join(10)
            _delete_topics(prefix)
    polls = counter(after, "newswatch_collector_polls_total") - counter(before, "newswatch_collector_polls_total")
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    commits = counter(after, "newswatch_collector_commit_seconds_count") - counter(
        before, "newswatch_collector_commit_seconds_count"
    )
    articles = counter(after, "newswatch_collector_articles_total") - counter(
        before, "newswatch_collector_articles_total"
    )
    return {
        "polls_per_s": polls / elapsed,
        "served_per_s": (served_after - served_before) / elapsed,
        "cpu_ms_per_poll": 1000 * cpu / polls if polls else float("nan"),
        "cpu_share": cpu / elapsed,
        "transactions_per_s": commits / elapsed,
        "articles_per_s": articles / elapsed,
    }


def _delete_topics(prefix: str) -> None:
    from kafka import KafkaAdminClient

    from newswatch.clients import kafka_python_config
    from newswatch.settings import Settings

    admin = KafkaAdminClient(**kafka_python_config(Settings.load()))
    try:
        mine = [name for name in admin.list_topics() if name.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=400, help="feeds served, each polled every second")
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring, after the first round")
    parser.add_argument("--concurrency", type=int, default=64, help="NEWSWATCH_COLLECTOR_CONCURRENCY")
    parser.add_argument("--modes", default="304,changed,unchanged")
    parser.add_argument("--output", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    print(f"one replica, {args.feeds} feeds of {ITEMS} items at interval 1 s, {os.cpu_count()} CPUs")
    row = "{:<10} {:>9} {:>10} {:>12} {:>10} {:>9} {:>10}"
    print(row.format("mode", "polls/s", "served/s", "CPU ms/poll", "CPU cores", "txn/s", "articles/s"))
    for mode in args.modes.split(","):
        figures = run_mode(mode, args.feeds, args.seconds, args.warmup, args.concurrency)
        results[mode] = figures
        print(
            row.format(
                mode,
                f"{figures['polls_per_s']:.0f}",
                f"{figures['served_per_s']:.0f}",
                f"{figures['cpu_ms_per_poll']:.2f}",
                f"{figures['cpu_share']:.2f}",
                f"{figures['transactions_per_s']:.1f}",
                f"{figures['articles_per_s']:.0f}",
            ),
            flush=True,
        )
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({"feeds": args.feeds, "cpus": os.cpu_count(), "modes": results}, indent=2))


if __name__ == "__main__":
    main()
