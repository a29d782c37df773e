"""Alert latency (issue 5): from a rule's threshold crossing to the webhook's receipt, p50/p95 over many crossings.

    .venv/bin/python bench/alert_latency.py                       # 60 crossings, 1 s evaluation interval
    .venv/bin/python bench/alert_latency.py --crossings 100 --interval 0.5

A script, never a test: it prints a table and writes ``bench/results/alert_latency.json``; it asserts
nothing. It needs the local stack (``newswatch stack up``) and runs the real alerter as a subprocess
(``python -m alerts alert``, what ``newswatch alert`` runs), pointed at an index of its own (created with
the real ``news`` mapping) and at a webhook receiver on a local socket. Everything it creates is deleted
at the end.

One crossing: the rule counts ``tags:"<run tag>"`` per ``places`` value in a 30 s window, threshold 3.
Each crossing uses a new place, so crossings never share a cooldown. Two articles are written, then
after a random 0.2-1.2 s (so crossings fall at every phase of the alerter's 1 s evaluation cycle and of
Elasticsearch's 1 s refresh) the third. **Crossing time** = the moment Elasticsearch acknowledged the
third article's write (``time.time()`` after the index call returns; no refresh is forced, so the
article becomes searchable at the next periodic refresh, as in production). **Receipt** = the webhook
receiver's ``time.time()`` when the POST arrives. Same host, same clock. The alert document's
``fired_at`` (the evaluation that fired) splits it into detection (refresh + wait for the next
evaluation + the count) and delivery (alert written, webhook POSTed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elasticsearch import Elasticsearch  # noqa: E402

from indexers.document import ClusterCapabilities, mappings, to_document  # noqa: E402
from newswatch.clients import elasticsearch_client  # noqa: E402
from newswatch.schema import Source, TaggedArticle  # noqa: E402
from newswatch.settings import Settings  # noqa: E402
from newswatch.stack.process import free_port  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "alert_latency.json"
# Issue 5 asks for p50/p95 over at least 50 crossings; with fewer, p95 is one or two samples' luck.
MIN_CROSSINGS = 50


class Receiver:
    """Webhook receiver on a real local socket: group -> receipt time."""

    def __init__(self) -> None:
        self.receipts: dict[str, float] = {}
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with receiver.arrived:
                    receiver.receipts.setdefault(body["alert"]["group"], at)
                    receiver.arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, group: str, timeout: float) -> float | None:
        with self.arrived:
            self.arrived.wait_for(lambda: group in self.receipts, timeout)
            return self.receipts.get(group)


def write_article(es: Elasticsearch, index: str, tag: str, place: str, n: int) -> float:
    """Index one matching article published now; returns the time Elasticsearch acknowledged it."""
    now = datetime.now(UTC)
    article = TaggedArticle(
        id=f"{index}-{n}",
        content_hash=uuid.uuid4().hex,
        url=f"https://bench.example/{index}/{n}",
        source=Source(name=f"Bench Wire {n % 3}", site="bench.example"),
        title=f"Troop movements reported near {place} ({n})",
        published=now,
        fetched=now,
        feed_url="https://bench.example/feed.xml",
        lang="en",
        tags=(tag,),
        places=(place,),
        story_id=f"{index}-{n}",
        processed=now,
    )
    es.index(index=index, id=article.id, document=to_document(article, now))
    return time.time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def start_alerter(
    source: str, alerts_index: str, rules: Path, hook: str, interval: float, log: Path
) -> subprocess.Popen[bytes]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_ALERTS_")}
    env.update(
        {
            "NEWSWATCH_ALERTS_SOURCE": source,
            "NEWSWATCH_ALERTS_INDEX": alerts_index,
            "NEWSWATCH_ALERTS_WEBHOOK_URL": hook,
            "NEWSWATCH_ALERTS_INTERVAL": str(interval),
            "NEWSWATCH_ALERTS_METRICS_PORT": str(port),
            "NEWSWATCH_LOG_JSON": "false",
        }
    )
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "alerts", "alert", "--rules", str(rules)], env=env, cwd=ROOT, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"alerter exited with {process.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"alerter not healthy after 60 s; see {log}")


def fired_at(es: Elasticsearch, alerts_index: str) -> dict[str, float]:
    es.indices.refresh(index=alerts_index)
    hits = es.search(index=alerts_index, size=1000, source=["group", "fired_at"])["hits"]["hits"]
    return {
        h["_source"]["group"]: datetime.fromisoformat(h["_source"]["fired_at"].replace("Z", "+00:00")).timestamp()
        for h in hits
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--crossings", type=int, default=60, help=f"threshold crossings to measure (at least {MIN_CROSSINGS})"
    )
    parser.add_argument("--interval", type=float, default=1.0, help="the alerter's evaluation interval, seconds")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.crossings < MIN_CROSSINGS:
        parser.error(
            f"--crossings {args.crossings}: at least {MIN_CROSSINGS} are needed for the p50/p95 issue 5 asks for "
            f"(fewer make p95 depend on one or two samples); nothing was measured"
        )
    random.seed(args.seed)
    settings = Settings.load()
    es = elasticsearch_client(settings)
    run = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    source, alerts_index, tag = f"{run}-news", f"{run}-alerts", run
    es.indices.create(
        index=source,
        mappings=mappings(ClusterCapabilities(language_analyzers=False, ilm=False)),
        settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
    )
    receiver = Receiver()
    workdir = Path(tempfile.mkdtemp(prefix="alert-latency-"))
    rules = workdir / "rules.yaml"
    rules.write_text(
        f"- name: bench\n  query: 'tags:\"{tag}\"'\n  window: 30s\n  threshold: 3\n  group_by: places\n"
        "  cooldown: 10m\n  channels: [webhook]\n"
    )
    alerter = start_alerter(source, alerts_index, rules, receiver.url, args.interval, workdir / "alerter.log")
    samples: list[dict[str, Any]] = []
    missed: list[str] = []
    try:
        n = 0
        for i in range(args.crossings):
            place = f"bench-place-{i}"
            for _ in range(2):
                n += 1
                write_article(es, source, tag, place, n)
            time.sleep(random.uniform(0.2, 1.2))
            n += 1
            crossed = write_article(es, source, tag, place, n)
            received = receiver.wait_for(place, timeout=15)
            if received is None:
                missed.append(place)
            else:
                samples.append({"group": place, "crossed": crossed, "received": received})
            print(f"\r{i + 1}/{args.crossings} crossings", end="", flush=True)
            time.sleep(random.uniform(0.0, 0.5))
        print()
        fired = fired_at(es, alerts_index)
    finally:
        alerter.send_signal(signal.SIGTERM)
        try:
            alerter.wait(timeout=20)
        except subprocess.TimeoutExpired:
            alerter.kill()
        receiver.server.shutdown()
        for index in (source, alerts_index, f"{alerts_index}-state"):
            es.options(ignore_status=404).indices.delete(index=index)
        es.close()
    for sample in samples:
        sample["latency"] = sample["received"] - sample["crossed"]
        if sample["group"] in fired:
            sample["detection"] = fired[sample["group"]] - sample["crossed"]
            sample["delivery"] = sample["received"] - fired[sample["group"]]
    rows = {
        "crossing -> webhook received": summary([s["latency"] for s in samples]),
        "  crossing -> alert fired (detection)": summary([s["detection"] for s in samples if "detection" in s]),
        "  alert fired -> webhook received": summary([s["delivery"] for s in samples if "delivery" in s]),
    }
    print(f"{'seconds':40} {'n':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'mean':>7}")
    for name, row in rows.items():
        print(
            f"{name:40} {row['n']:>4} {row['p50']:>7.3f} {row['p95']:>7.3f} {row['p99']:>7.3f} "
            f"{row['max']:>7.3f} {row['mean']:>7.3f}"
        )
    if missed:
        print(f"MISSED (no webhook within 15 s): {len(missed)}: {missed}")
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "config": {"crossings": args.crossings, "interval": args.interval, "window": "30s", "threshold": 3},
        "summary": rows,
        "missed": missed,
        "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
