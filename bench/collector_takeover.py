"""Takeover time after a collector replica is SIGKILLed (figures, no assertions).

    .venv/bin/python bench/collector_takeover.py [--repeat 3] [--feeds 20] [--interval 2]

Needs the local stack (`newswatch stack up`). Each run: a local HTTP server (a thread of this process)
serves ``--feeds`` RSS feeds polled every ``--interval`` seconds; two real `newswatch collect`
replicas split them through Kafka's consumer group; once both own feeds and have polled for a few
intervals, one is killed with SIGKILL (no goodbye: its feeds move only when its group session expires,
``NEWSWATCH_COLLECTOR_SESSION_TIMEOUT``). Two figures, from the kill:

- **owned**: the survivor's ``/health`` reports every feed owned and no partition loading;
- **takeover**: every feed has been polled again by the survivor (the feed server sees each request's
  User-Agent, which names the replica). This is the figure of issue 3 (target: within 30 s).

Each run uses its own topic prefix (``bench-takeover-<hex>.``) and deletes its topics and consumer
group at the end. The figures of every run are printed, then the median of each; a run with a step
that times out (90 s) is reported with the replicas' log tails, kept on disk, and left out of the
medians. The figures count from the kill, so the wait for the split does not enter them. "owned" is
sampled every 0.2 s through ``/health``, the polls are timed by the server as they arrive, so
"takeover" can read a little lower than "owned".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

# The feed server and the replica processes are the integration tests' own helpers (tests/ is not an
# installed package, so the repository root goes on the path).
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.test_collectors_support import (  # noqa: E402
    Feed,
    FeedServer,
    Item,
    Replica,
    collector_env,
    delete_topics,
    kill_leftover_replicas,
    prefixed_settings,
    write_feeds_file,
)
from tests.integration.waiting import wait_until  # noqa: E402

STEP_TIMEOUT = 90.0  # seconds for each step (start, split, takeover) before the run counts as failed
SETTLE_INTERVALS = 3  # polls of every feed by both replicas before the kill: a steady state, not a start-up


def owned(replica: Replica) -> tuple[int, list[int]] | None:
    """(feeds owned, partitions) once the replica has loaded all it was assigned; None before."""
    health = replica.health()
    if not health or health.get("loading_partitions"):
        return None
    return health["owned_feeds"], health["partitions"]


def delete_group(prefix: str, timeout: float = 30.0) -> None:
    """Delete the run's consumer group. A killed member stays in it until its session expires, and
    until then Kafka refuses (kafka-python returns the error by group, it does not raise): retry a while."""
    from kafka import KafkaAdminClient

    from collectors.layout import group_id
    from newswatch.clients import kafka_python_config

    settings = prefixed_settings(prefix)
    group = group_id(settings)
    admin = KafkaAdminClient(**kafka_python_config(settings))
    try:
        deadline = time.monotonic() + timeout
        while True:
            answer = str(admin.delete_groups([group]).get(group))
            if answer == "OK" or "GroupIdNotFound" in answer:
                return
            if time.monotonic() > deadline:
                print(f"  (consumer group {group} not deleted: {answer})", file=sys.stderr)
                return
            time.sleep(1.0)
    finally:
        admin.close()


def run_once(feeds: int, interval: int, log_dir: Path) -> dict[str, float]:
    """One kill and takeover; raises AssertionError (with the replicas' log tails) if a step times out."""
    prefix = f"bench-takeover-{uuid.uuid4().hex[:10]}."
    paths = [f"/t{n}.xml" for n in range(feeds)]
    env = collector_env(prefix, NEWSWATCH_LOG_LEVEL="WARNING")
    replicas: list[Replica] = []
    try:
        with FeedServer() as server:
            for n, path in enumerate(paths):
                server.feeds[path] = Feed(items=[Item(f"t{n}-{k}", f"Report {n}.{k}") for k in range(3)])
            feeds_file = write_feeds_file(log_dir / "feeds.yaml", server, paths, interval=interval)
            victim = Replica("victim", env, log_dir, feeds_file)
            replicas.append(victim)
            wait_until(lambda: (owned(victim) or (0,))[0] == feeds, STEP_TIMEOUT, "one replica owning all feeds")
            survivor = Replica("survivor", env, log_dir)
            replicas.append(survivor)

            def split() -> bool:
                a, b = owned(victim), owned(survivor)
                return bool(a and b and a[0] > 0 and b[0] > 0 and a[0] + b[0] == feeds)

            wait_until(split, STEP_TIMEOUT, "the feeds split between the two replicas")
            moved = feeds - (owned(survivor) or (0,))[0]
            time.sleep(SETTLE_INTERVALS * interval)

            victim.kill()
            killed_at = time.monotonic()
            wait_until(lambda: (owned(survivor) or (0,))[0] == feeds, STEP_TIMEOUT, "the survivor owning all feeds")
            owned_after = time.monotonic() - killed_at

            def first_poll_by_survivor(path: str) -> float | None:
                times = [r.at for r in server.requests_for(path, killed_at) if r.user_agent.endswith("/survivor")]
                return min(times) if times else None

            wait_until(
                lambda: all(first_poll_by_survivor(path) is not None for path in paths),
                STEP_TIMEOUT,
                "every feed polled by the survivor",
            )
            polled_after = max(first_poll_by_survivor(path) or 0.0 for path in paths) - killed_at
            code = survivor.stop()
            if code != 0:
                print(f"  (the survivor exited with {code}; its log: {survivor.log_path})", file=sys.stderr)
    except AssertionError as exc:
        tails = "\n".join(f"--- {replica.name} ({replica.log_path}):\n{replica.tail(15)}" for replica in replicas)
        raise AssertionError(f"{exc}\n{tails}") from None
    finally:
        kill_leftover_replicas()
        delete_topics(prefixed_settings(prefix))
        delete_group(prefix)
    return {"owned_s": owned_after, "takeover_s": polled_after, "feeds_moved": float(moved)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each with its own topics and replicas")
    parser.add_argument("--feeds", type=int, default=20, help="feeds served and split between the replicas")
    parser.add_argument("--interval", type=int, default=2, help="seconds between two polls of a feed")
    args = parser.parse_args()
    settings = prefixed_settings("")
    print(
        f"two replicas, {args.feeds} feeds polled every {args.interval} s, one replica SIGKILLed; "
        f"session timeout {settings.collector_session_timeout:g} s, "
        f"transaction timeout {settings.collector_transaction_timeout:g} s, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    row = "{:<6} {:>12} {:>22} {:>14}"
    print(row.format("run", "feeds moved", "survivor owns all, s", "takeover, s"))
    results = []
    for run in range(1, args.repeat + 1):
        log_dir = Path(tempfile.mkdtemp(prefix="collector-takeover-"))
        try:
            figures = run_once(args.feeds, args.interval, log_dir)
        except AssertionError as exc:  # report it and go on: a stuck run is a finding too
            print(f"{run:<6} failed: {exc}\n       (logs kept in {log_dir})", flush=True)
            continue
        shutil.rmtree(log_dir, ignore_errors=True)
        results.append(figures)
        print(
            row.format(
                run, f"{figures['feeds_moved']:.0f}", f"{figures['owned_s']:.1f}", f"{figures['takeover_s']:.1f}"
            ),
            flush=True,
        )
    if not results:
        raise SystemExit("no run completed")
    print(
        row.format(
            "median",
            "",
            f"{statistics.median(r['owned_s'] for r in results):.1f}",
            f"{statistics.median(r['takeover_s'] for r in results):.1f}",
        )
    )


if __name__ == "__main__":
    main()
