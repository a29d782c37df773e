"""Shared pieces of the whole-pipeline tests (`test_pipeline_*.py`); no tests here.

- ``FeedServer``: a real HTTP server on 127.0.0.1 serving RSS 2.0 feeds whose items appear over time
  (held until released, released now, or spread over a number of seconds), each dated the moment it
  appears; it records when each item was first served, so a test knows exactly what a collector
  could have seen and when.
- ``Story`` texts written for these tests: NATO–Russia talks coverage, troop-buildup coverage and
  unrelated news, and ``filler_stories`` to stream a few hundred distinct articles.
- ``PipelineRun``: `newswatch run --feeds --rules --for` as one subprocess; its supervised children
  found with psutil (by command line) to be SIGKILLed; teardown kills everything the run started,
  orphans included (found by a marker in their environment).
- ``pipeline_env`` (isolation: topic prefix, alias, alerts index, free metrics ports), Elasticsearch
  readers, and ``drop_test_data`` which deletes exactly the topics, groups and indices of one test.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import psutil
import yaml
from elasticsearch import Elasticsearch

from newswatch.settings import Settings
from newswatch.stack.process import free_port
from tests.integration.http_support import loopback_get_server
from tests.integration.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "newswatch.cli"]
MARKER = "NEWSWATCH_PIPELINE_TEST_ID"  # in the environment of every process a pipeline test starts
SERVICES = {"collector": "collect", "streams": "streams", "indexer": "index", "alerter": "alert"}


# --- what the feeds say ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Story:
    slug: str
    title: str
    text: str
    kind: str  # "talks", "buildup" or "other"


TALKS = [
    Story(
        "council-reconvenes",
        "NATO and Russia hold council talks in Brussels after a two-year pause",
        "Russian diplomats and envoys of the thirty NATO allies sat down at the alliance headquarters on "
        "Wednesday for the first session of the NATO-Russia Council since 2019. Moscow pressed its demand for "
        "written security guarantees, while allied officials said they were ready to discuss arms control.",
        "talks",
    ),
    Story(
        "lavrov-blinken-call",
        "Lavrov and Blinken speak by phone ahead of the European security talks",
        "Russian Foreign Minister Sergei Lavrov spoke by phone with US Secretary of State Antony Blinken on "
        "Tuesday. The two discussed Moscow's proposals on security guarantees and the situation around Ukraine, "
        "the ministry in Moscow said after the call.",
        "talks",
    ),
    Story(
        "geneva-round-ends",
        "US and Russian delegations end talks in Geneva without a breakthrough",
        "After nearly eight hours of talks in Geneva, Deputy Secretary of State Wendy Sherman said the United "
        "States had pushed back on Russian proposals that would close NATO's open door. Russia's deputy foreign "
        "minister Sergei Ryabkov called the meeting with the American side difficult but useful.",
        "talks",
    ),
    Story(
        "vienna-osce-session",
        "Russia and Western envoys meet again in Vienna as security dialogue continues",
        "Diplomats from Russia, the United States and European allies met in Vienna on Thursday for the third "
        "round of talks this week on European security. Moscow repeated that NATO expansion to the east must "
        "stop and said it expected a written answer to its draft treaty.",
        "talks",
    ),
    Story(
        "written-answer-delivered",
        "Washington and NATO hand Moscow written replies on security proposals",
        "The United States and NATO delivered written responses to Russia's security proposals on Wednesday. "
        "Kremlin spokesman Dmitry Peskov said Moscow would study the answers before deciding whether the talks "
        "on arms control and Ukraine could continue.",
        "talks",
    ),
    Story(
        "scholz-putin-meeting",
        "Scholz meets Putin in Moscow for talks on the Ukraine crisis",
        "German Chancellor Olaf Scholz met Russian President Vladimir Putin in the Kremlin on Tuesday. The two "
        "leaders discussed European security, the build-up of troops near Ukraine and the Minsk agreements, "
        "and agreed to continue the dialogue.",
        "talks",
    ),
    Story(
        "genf-gespraeche-de",
        "Russland und die USA setzen Gespräche über Sicherheitsgarantien in Genf fort",
        "Die Delegationen Russlands und der Vereinigten Staaten haben am Montag in Genf ihre Gespräche über "
        "Sicherheitsgarantien fortgesetzt. Moskau verlangt, dass die NATO auf eine weitere Osterweiterung "
        "verzichtet; Washington bot Verhandlungen über Rüstungskontrolle an.",
        "talks",
    ),
    Story(
        "conseil-otan-russie-fr",
        "Le Conseil OTAN-Russie se réunit à Bruxelles pour la première fois depuis 2019",
        "Les représentants de la Russie et des trente alliés de l'OTAN se sont réunis mercredi à Bruxelles. "
        "Moscou a répété ses exigences de garanties de sécurité et les alliés ont proposé des discussions sur "
        "le contrôle des armements et la transparence militaire en Europe.",
        "talks",
    ),
]

BUILDUP = [
    Story(
        "satellite-images-border",
        "Satellite images show Russian troops massing near Ukraine's border",
        "New satellite images show Russian tanks, artillery and thousands of troops massing near the border "
        "with Ukraine. Analysts counted several new field camps within 30 kilometres of the frontier.",
        "buildup",
    ),
    Story(
        "belarus-drills-arrivals",
        "Russian troops arrive in Belarus as forces mass along Ukraine's northern border",
        "Trainloads of Russian troops and armoured vehicles have arrived in Belarus, where forces are massing "
        "near the border with Ukraine ahead of joint drills, defence officials in Kyiv said.",
        "buildup",
    ),
    Story(
        "more-battalions-moved",
        "Russia moves more battalion tactical groups towards Ukraine's border",
        "Russia has moved more battalion tactical groups towards the Ukrainian border, bringing the number of "
        "troops massed near Ukraine to well over 100,000, Western intelligence officials said on Friday.",
        "buildup",
    ),
    Story(
        "field-hospitals-seen",
        "Field hospitals appear as Russian forces gather near the Ukrainian border",
        "Field hospitals and fuel depots have been set up as Russian forces keep massing near the border with "
        "Ukraine, according to commercial satellite images published on Monday.",
        "buildup",
    ),
]

OTHER = [
    Story(
        "ferry-storm",
        "Storm halts ferries between the northern islands",
        "Ferry crossings between the northern islands were cancelled on Saturday as gale-force winds and high "
        "waves swept the coast. Operators expect services to resume on Sunday afternoon.",
        "other",
    ),
    Story(
        "harvest-record",
        "Wheat harvest breaks a ten-year record in the southern plains",
        "Farmers in the southern plains brought in the largest wheat harvest in a decade, helped by a mild "
        "spring and late rain. Grain prices at the regional exchange fell slightly.",
        "other",
    ),
    Story(
        "museum-reopens",
        "City museum reopens its medieval gallery after renovation",
        "The city museum reopened its medieval gallery on Friday after two years of renovation, with new "
        "lighting, restored tapestries and a reading room for visiting schools.",
        "other",
    ),
    Story(
        "rail-strike-ends",
        "Rail workers end three-day strike after pay deal",
        "Train drivers returned to work on Thursday after unions and the rail operator agreed a pay rise of "
        "four percent over two years. Timetables should be back to normal by the weekend.",
        "other",
    ),
    Story(
        "cup-final",
        "Harbour United win the cup final on penalties",
        "Harbour United won the national cup final on penalties after a goalless draw, their first trophy in "
        "eleven seasons. Their goalkeeper saved two spot kicks.",
        "other",
    ),
]

_PLACES = [
    "Altmark",
    "Brenholm",
    "Castelvo",
    "Dunmore",
    "Eskerby",
    "Falmouth Vale",
    "Grevenrode",
    "Holtwick",
    "Iverdale",
    "Jarnsted",
    "Kelmscott",
    "Lindqvist Bay",
    "Marrowby",
    "Norhaven",
    "Oakfield",
    "Pelsworth",
    "Quarrington",
    "Rothwell",
    "Saltmere",
    "Thornbury",
]
_TOPICS = [
    (
        "council-budget",
        "{place} council approves budget for new school buildings",
        "Councillors in {place} approved {n} million for two school buildings and a repaired sports hall.",
    ),
    (
        "bridge-repair",
        "Bridge repairs close the main road into {place}",
        "The main road into {place} will be closed for {n} weeks while engineers replace the bridge deck.",
    ),
    (
        "book-fair",
        "{place} book fair draws record crowds",
        "More than {n} thousand visitors came to the book fair in {place}, organisers said on Sunday.",
    ),
    (
        "hospital-wing",
        "New maternity wing opens at {place} hospital",
        "The hospital in {place} opened a maternity wing with {n} beds and a neonatal unit.",
    ),
    (
        "jazz-festival",
        "Jazz festival returns to {place} after a long break",
        "The {place} jazz festival is back with {n} concerts in parks, churches and the old market hall.",
    ),
    (
        "river-cleanup",
        "Volunteers clear tonnes of litter from the river at {place}",
        "About {n} volunteers spent the weekend clearing litter from the riverbanks near {place}.",
    ),
    (
        "tram-line",
        "{place} opens its first tram line",
        "The first tram line in {place} carried {n} thousand passengers in its opening week.",
    ),
    (
        "bakery-prize",
        "{place} bakery wins national bread prize",
        "A family bakery from {place} won the national bread prize with a rye loaf baked for {n} hours.",
    ),
    (
        "heat-record",
        "{place} records its hottest spring day",
        "Thermometers in {place} reached {n} degrees on Tuesday, the warmest spring day on record there.",
    ),
    (
        "chess-open",
        "Teenager wins the {place} chess open",
        "A sixteen-year-old won the {place} chess open with {n} points from nine rounds.",
    ),
]


def filler_stories(count: int) -> list[Story]:
    """``count`` distinct unrelated stories (topic x place), deterministic."""
    stories = []
    for i in range(count):
        slug, title, text = _TOPICS[i % len(_TOPICS)]
        place = _PLACES[(i // len(_TOPICS)) % len(_PLACES)]
        n = 3 + (i * 7) % 40
        stories.append(
            Story(
                f"{slug}-{place.lower().replace(' ', '-')}-{i}",
                title.format(place=place),
                text.format(place=place, n=n),
                "other",
            )
        )
    return stories


# --- the feed server -------------------------------------------------------------------------------
@dataclass
class Item:
    story: Story
    feed: str  # the feed's path, e.g. "/northgate.xml"
    url: str
    due: float | None = None  # time.monotonic() at which it appears; None: held
    published: datetime | None = None


@dataclass(frozen=True)
class FeedSpec:
    path: str
    name: str
    site: str
    language: str = "en"


class FeedServer:
    """RSS feeds on 127.0.0.1 whose items appear when due, dated as they appear (newest first)."""

    def __init__(self, feeds: Sequence[FeedSpec]) -> None:
        self.feeds = {feed.path: feed for feed in feeds}
        self.items: list[Item] = []
        self.first_served: dict[str, float] = {}  # url -> time.time() of the first answer that held it
        self._lock = threading.Lock()
        self.httpd, thread = loopback_get_server(self._answer)
        thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def write_feeds_file(self, path: Path, interval: int = 1) -> Path:
        entries = [
            {"url": self.url(feed.path), "name": feed.name, "language": feed.language, "interval": interval}
            for feed in self.feeds.values()
        ]
        path.write_text(yaml.safe_dump(entries, allow_unicode=True))
        return path

    def add(self, stories: Iterable[Story], feeds: Sequence[str] | None = None) -> list[Item]:
        """Add held items, dealt round-robin over ``feeds`` (default: every feed)."""
        paths = list(feeds or self.feeds)
        added = []
        with self._lock:
            for i, story in enumerate(stories):
                path = paths[i % len(paths)]
                site = self.feeds[path].site
                added.append(Item(story, path, f"https://{site}/news/{story.slug}"))
            self.items += added
        return added

    def release_now(self, items: Iterable[Item]) -> float:
        """Items appear now; returns that time.monotonic()."""
        now = time.monotonic()
        self._schedule([(item, now) for item in items])
        return now

    def release_over(self, items: Sequence[Item], seconds: float) -> None:
        """Items appear one after another, evenly over ``seconds`` from now."""
        now = time.monotonic()
        step = seconds / max(1, len(items))
        self._schedule([(item, now + i * step) for i, item in enumerate(items)])

    def _schedule(self, pairs: list[tuple[Item, float]]) -> None:
        offset = time.time() - time.monotonic()
        with self._lock:
            for item, due in pairs:
                item.due = due
                item.published = datetime.fromtimestamp(due + offset, UTC)

    def served_urls(self) -> set[str]:
        with self._lock:
            return set(self.first_served)

    def all_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            return all(item.due is not None and item.due <= now for item in self.items)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        feed = self.feeds.get(path)
        if feed is None:
            body, status = b"not found", 404
        else:
            now, wall = time.monotonic(), time.time()
            with self._lock:
                visible = [i for i in self.items if i.feed == path and i.due is not None and i.due <= now]
                visible.sort(key=lambda i: i.due or 0.0, reverse=True)
                for item in visible:
                    self.first_served.setdefault(item.url, wall)
            body, status = render_rss(feed, visible), 200
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the collector was killed mid-request


def render_rss(feed: FeedSpec, items: list[Item]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(item.story.title)}</title><link>{escape(item.url)}</link>"
        f'<guid isPermaLink="true">{escape(item.url)}</guid>'
        f"<description>{escape(item.story.text)}</description>"
        f"<pubDate>{format_datetime(item.published, usegmt=True) if item.published else ''}</pubDate></item>"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(feed.name)}</title><link>https://{feed.site}/</link>"
        f"<description>{escape(feed.name)} (test feed)</description><language>{feed.language}</language>"
        f"{entries}</channel></rss>"
    ).encode()


# --- isolation and environment -------------------------------------------------------------------
@dataclass(frozen=True)
class Names:
    """One test's own topic prefix, alias and alerts index (nothing else is ever deleted)."""

    base: str

    @property
    def prefix(self) -> str:
        return f"{self.base}."

    @property
    def alias(self) -> str:
        return self.base

    @property
    def alerts_index(self) -> str:
        return f"{self.base}-alerts"


def new_names() -> Names:
    return Names(f"pipeline-{hashlib.sha256(os.urandom(8)).hexdigest()[:10]}")


def pipeline_env(names: Names, state_dir: Path, drop: Iterable[str] = (), **overrides: str) -> dict[str, str]:
    """The services' environment: this test's own names, state directory and free ports.

    Inherited alert settings (another rules file, other channels) and a dotenv file are dropped, and
    so is every variable in ``drop``; the rest (e.g. credentials of an existing cluster) is kept.
    """
    dropped = set(drop) | {"NEWSWATCH_ENV_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("NEWSWATCH_ALERTS_")}
    env.update(
        {
            MARKER: names.base,
            "PYTHONUNBUFFERED": "1",
            "NEWSWATCH_STATE_DIR": str(state_dir),
            "NEWSWATCH_TOPIC_PREFIX": names.prefix,
            "NEWSWATCH_INDEX_ALIAS": names.alias,
            "NEWSWATCH_ALERTS_INDEX": names.alerts_index,
            "NEWSWATCH_ALLOW_PRIVATE_ADDRESSES": "true",
            "NEWSWATCH_LOG_JSON": "false",
            "NEWSWATCH_COLLECTOR_METRICS_PORT": str(free_port()),
            "NEWSWATCH_STREAMS_WEB_PORT": str(free_port()),
            "NEWSWATCH_INDEXER_METRICS_PORT": str(free_port()),
            "NEWSWATCH_ALERTS_METRICS_PORT": str(free_port()),
            "NEWSWATCH_ALERTS_DELIVERY_BACKOFF": "0.5",
        }
    )
    env.update(overrides)
    return env


def shared_stack_env(settings: Settings, names: Names, state_dir: Path, **overrides: str) -> dict[str, str]:
    """On the shared stack, named as existing clusters: `run` then starts and stops nothing of it, and
    keeps its logs and Faust's data in this test's own state directory."""
    return pipeline_env(
        names,
        state_dir,
        NEWSWATCH_KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap,
        NEWSWATCH_ELASTICSEARCH_URL=settings.elasticsearch_endpoint,
        **overrides,
    )


def alerter_healthy(env: dict[str, str]) -> bool:
    try:
        url = f"http://127.0.0.1:{env['NEWSWATCH_ALERTS_METRICS_PORT']}/health"
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def write_rules(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"rules": rules}, sort_keys=False))
    return path


# --- `newswatch run` as a process -------------------------------------------------------------------
@dataclass
class PipelineRun:
    """`newswatch run` in its own session; its output (live status lines, summary) goes to a file."""

    env: dict[str, str]
    feeds: Path
    rules: Path | None  # None: the shipped default rules
    log_path: Path
    duration: str = "15m"  # a cap only: tests stop it with SIGTERM when done
    process: subprocess.Popen[bytes] | None = None
    seen: dict[int, float] = field(default_factory=dict)  # pid -> create_time of every child seen

    def start(self) -> PipelineRun:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "run", "--feeds", str(self.feeds), "--for", self.duration]
                + (["--rules", str(self.rules)] if self.rules else []),
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_log(self, name: str) -> str:
        path = Path(self.env["NEWSWATCH_STATE_DIR"]) / "run" / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def children(self) -> dict[str, psutil.Process]:
        """The supervised services now alive, by name, matched on their command lines."""
        assert self.process is not None
        found: dict[str, psutil.Process] = {}
        try:
            kids = psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return found
        for kid in kids:
            try:
                argv = kid.cmdline()
                if kid.status() == psutil.STATUS_ZOMBIE:
                    continue
                self.seen[kid.pid] = kid.create_time()
            except psutil.Error:
                continue
            if "newswatch.cli" in argv:
                command = argv[argv.index("newswatch.cli") + 1 : argv.index("newswatch.cli") + 2]
                for name, sub in SERVICES.items():
                    if command == [sub]:
                        found[name] = kid
        return found

    def wait_for_children(self, timeout: float = 60) -> dict[str, psutil.Process]:
        def all_up() -> dict[str, psutil.Process] | None:
            self.check_alive()
            kids = self.children()
            return kids if set(kids) == set(SERVICES) else None

        return wait_until(all_up, timeout, "the four services of `newswatch run`")  # type: ignore[no-any-return]

    def kill_child(self, name: str, timeout: float = 60) -> tuple[int, int]:
        """SIGKILL one service and wait until `run` restarted it; returns (old pid, new pid)."""
        old = self.children()[name]
        old.send_signal(signal.SIGKILL)
        old.wait(10)

        def restarted() -> int | None:
            self.check_alive()
            kid = self.children().get(name)
            return kid.pid if kid is not None and kid.pid != old.pid else None

        new = wait_until(restarted, timeout, f"`newswatch run` to restart the {name}")
        return old.pid, int(new)

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"`newswatch run` exited with {self.process.returncode}:\n{self.output()[-4000:]}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager would: `run` stops its services and prints its summary."""
        assert self.process is not None
        self.children()  # remember the last children, for cleanup
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def running(run: PipelineRun, settings: Settings, names: Names) -> Iterator[PipelineRun]:
    """Start ``run``; afterwards, whatever happened, stop it, kill every process it left and drop the
    test's topics and indices."""
    run.start()
    try:
        yield run
    finally:
        try:
            if run.process is not None and run.process.poll() is None:
                run.stop(timeout=45)
        except (subprocess.TimeoutExpired, AssertionError):
            pass
        finally:
            leftovers = kill_marked(names.base, run.seen.items())
            if leftovers:
                print(f"[pipeline cleanup] killed leftover processes {leftovers}")
            drop_test_data(settings, names)


def kill_marked(marker: str, also: Iterable[tuple[int, float]] = ()) -> list[int]:
    """SIGKILL every process with ``MARKER=marker`` in its environment, plus the listed (pid, create_time)."""
    victims: dict[int, psutil.Process] = {}
    for pid, created in also:
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - created) < 1.0:
                victims[pid] = proc
        except psutil.Error:
            pass
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.pid == os.getpid() or "python" not in (proc.info["name"] or ""):
            continue
        try:
            if proc.environ().get(MARKER) == marker:
                victims[proc.pid] = proc
        except psutil.Error:
            continue
    for proc in victims.values():
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(victims.values()), timeout=15)
    return sorted(victims)


# --- Elasticsearch and Kafka readers and cleanup ---------------------------------------------------
def documents(es: Elasticsearch, alias: str) -> list[dict[str, Any]]:
    """Every document in the alias (the tests index at most a few hundred)."""
    es.indices.refresh(index=alias)
    answer = es.search(
        index=alias,
        size=5000,
        query={"match_all": {}},
        source=["url", "tags", "title", "source", "lang", "indexed", "published"],
    )
    return [hit["_source"] | {"_id": hit["_id"]} for hit in answer["hits"]["hits"]]


def count(es: Elasticsearch, index: str) -> int:
    try:
        es.indices.refresh(index=index)
        return int(es.count(index=index)["count"])
    except Exception:  # noqa: BLE001 - not created yet, or ES restarting
        return 0


def alerts(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    if not es.indices.exists(index=index):
        return []
    es.indices.refresh(index=index)
    answer = es.search(index=index, size=100, query={"match_all": {}})
    return [hit["_source"] for hit in answer["hits"]["hits"]]


def deadletter_count(settings: Settings, names: Names) -> int:
    """Records on the test's dead-letter topic (it holds no transactions, so offsets count records)."""
    from kafka import KafkaConsumer, TopicPartition

    from newswatch.clients import kafka_python_config
    from newswatch.topics import Topics

    topic = Topics(names.prefix).deadletter
    consumer = KafkaConsumer(**kafka_python_config(settings))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends, begins = consumer.end_offsets(partitions), consumer.beginning_offsets(partitions)
        return sum(ends[tp] - begins[tp] for tp in partitions)
    finally:
        consumer.close()


def drop_test_data(settings: Settings, names: Names) -> None:
    """Delete this test's topics, consumer groups, indices and template: exact names, all with its prefix."""
    from kafka import KafkaAdminClient

    from newswatch.clients import elasticsearch_client, kafka_python_config

    try:
        admin = KafkaAdminClient(**kafka_python_config(settings))
        try:
            topics = [t for t in admin.list_topics() if t.startswith(names.prefix)]
            if topics:
                admin.delete_topics(topics)
            groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(names.prefix)]
            if groups:
                admin.delete_groups(groups)
        finally:
            admin.close()
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the test's own failure
        print(f"[pipeline cleanup] kafka: {exc}")
    es = elasticsearch_client(settings)
    try:
        behind = es.options(ignore_status=404).indices.get_alias(name=names.alias)
        indices = [i for i in dict(behind.body) if i.startswith(names.alias)] if behind.meta.status == 200 else []
        for index in [*indices, names.alerts_index, f"{names.alerts_index}-state"]:
            es.options(ignore_status=404).indices.delete(index=index)
        es.options(ignore_status=404).indices.delete_index_template(name=f"{names.alias}-template")
    except Exception as exc:  # noqa: BLE001
        print(f"[pipeline cleanup] elasticsearch: {exc}")
    finally:
        es.close()
