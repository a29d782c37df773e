"""The whole-pipeline benchmark (issue 7): one table, one JSON file, on the running local stack.

1. 1,000 feeds on a local HTTP server, polled by one collector replica: feeds/s and CPU per feed
   (`bench/collector_throughput.py`);
2. N synthetic articles pushed into news.raw with the Faust workers (two by default: one per core)
   and the indexer running:
   throughput to searchable, then latency news.raw -> searchable at a steady rate
   (`bench/pipeline_stages.py --stages endtoend,latency`);
3. alert latency from threshold crossing to webhook receipt (`bench/alert_latency.py`).

A script, never a test: it prints figures and writes bench/results/pipeline.json. Run it with the
stack up (`newswatch stack up`) and nothing else busy: `.venv/bin/python bench/pipeline.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
console = Console()


def run(script: str, *args: str) -> None:
    console.rule(script)
    done = subprocess.run([sys.executable, str(BENCH / script), *args], check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed (exit {done.returncode})")


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--crossings", type=int, default=50)
    parser.add_argument(
        "--streams-workers",
        type=int,
        default=2,
        help="Faust workers in the end-to-end run: one per core, as operators scale the stage (default 2)",
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    run(
        "collector_throughput.py",
        "--feeds",
        str(args.feeds),
        "--modes",
        "304,changed",
        "--output",
        str(RESULTS / "collector_throughput.json"),
    )
    run(
        "pipeline_stages.py",
        "--stages",
        "endtoend,latency",
        "--articles",
        str(args.articles),
        "--streams-workers",
        str(args.streams_workers),
        "--output",
        str(RESULTS / "pipeline_endtoend.json"),
    )
    run("alert_latency.py", "--crossings", str(args.crossings), "--out", str(RESULTS / "alert_latency.json"))

    collector = load("collector_throughput.json")["modes"]
    stages = load("pipeline_endtoend.json")["summary"]
    alerts = load("alert_latency.json")
    crossing = alerts["summary"]["crossing -> webhook received"]
    rows = [
        ("collector, 304 polls: feeds/s", collector.get("304", {}).get("polls_per_s"), "≥ 100"),
        ("collector, 304 polls: CPU ms/feed", collector.get("304", {}).get("cpu_ms_per_poll"), ""),
        ("collector, changed feeds: feeds/s", collector.get("changed", {}).get("polls_per_s"), "≥ 100"),
        ("collector, changed feeds: CPU ms/feed", collector.get("changed", {}).get("cpu_ms_per_poll"), ""),
        (
            f"end to end, {args.articles:,} articles, {args.streams_workers} Faust worker(s): articles/s",
            stages.get("endtoend_articles_per_s"),
            "≥ 1,000",
        ),
        ("news.raw -> searchable p50, s", stages.get("latency_p50_s"), ""),
        ("news.raw -> searchable p95, s", stages.get("latency_p95_s"), "≤ 2.5"),
        ("news.raw -> searchable p99, s", stages.get("latency_p99_s"), ""),
        ("alert: crossing -> webhook p50, s", crossing.get("p50"), ""),
        ("alert: crossing -> webhook p95, s", crossing.get("p95"), "≤ 5"),
    ]
    table = Table(title="newswatch pipeline benchmark")
    for column in ("figure", "measured", "target"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for name, value, target in rows:
        table.add_row(name, "-" if value is None else f"{value:,.2f}", target)
    console.print(table)
    (RESULTS / "pipeline.json").write_text(
        json.dumps(
            {name: value for name, value, _ in rows}
            | {"articles": args.articles, "feeds": args.feeds, "streams_workers": args.streams_workers},
            indent=2,
        )
    )
    console.print(f"written: {RESULTS / 'pipeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
