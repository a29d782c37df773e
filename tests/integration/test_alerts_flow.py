"""The alerter in this process against the real Elasticsearch, a real SMTP server and a real webhook receiver.

The clock is injected (a manual clock), so cooldowns, catch-up and late articles are tested without waiting;
evaluations are run one at a time with ``evaluate_once`` and deliveries awaited with ``drain``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch
from pydantic import SecretStr

from alerts.channels import Channel, ConsoleChannel, EmailChannel, SmtpServer, WebhookChannel
from alerts.delivery import DeliveryPolicy
from alerts.document import SENT, build_alert, iso
from alerts.queries import GROUPS_PER_PAGE, WindowArticles
from alerts.rule import Rule, parse_rules
from alerts.service import Alerter, AlerterConfig
from alerts.store import AlertStore
from alerts.windows import WindowCount
from newswatch.clients import async_elasticsearch_client, elasticsearch_client
from newswatch.observability import configure_logging
from newswatch.settings import Settings
from tests.integration.test_alerts_support import ArticleIndex, SmtpSink, WebhookReceiver, delete_indices
from tests.integration.waiting import poll_until

LOG = configure_logging("test-alerts", "WARNING", json_logs=False)
TOKEN = "tok-flow-secret-123"


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class World:
    es: Elasticsearch
    articles: ArticleIndex
    alerts_index: str
    webhook: WebhookReceiver
    smtp: SmtpSink
    clock: ManualClock
    settings: Settings
    printed: list[str]

    def channels(self, webhook_url: str | None = None, smtp: SmtpServer | None = None) -> dict[str, Channel]:
        smtp = smtp or SmtpServer("127.0.0.1", self.smtp.port, "none")
        return {
            "console": ConsoleChannel(),
            "webhook": WebhookChannel("webhook", SecretStr(webhook_url or self.webhook.url), SecretStr(TOKEN)),
            "email": EmailChannel("email", smtp, "alerts@desk.example", ("duty@desk.example",)),
        }

    def rules(self, text: str) -> list[Rule]:
        return parse_rules(text, source="test", channels=list(self.channels()))

    def alerter(
        self,
        rules: list[Rule],
        *,
        webhook_url: str | None = None,
        attempts: int = 3,
        smtp: SmtpServer | None = None,
        groups_per_page: int = GROUPS_PER_PAGE,
    ) -> Alerter:
        es = async_elasticsearch_client(self.settings)
        store = AlertStore(
            es, source=self.articles.name, alerts_index=self.alerts_index, groups_per_page=groups_per_page
        )
        config = AlerterConfig(delivery=DeliveryPolicy(attempts=attempts, backoff=0.2, timeout=2.0), lease_seconds=3.0)
        return Alerter(
            rules=rules,
            channels=self.channels(webhook_url, smtp),
            store=store,
            http=httpx.AsyncClient(timeout=2.0),
            log=LOG,
            config=config,
            clock=self.clock,
            write=self.printed.append,
        )

    def alert_docs(self) -> list[dict[str, Any]]:
        self.es.indices.refresh(index=self.alerts_index)
        hits = self.es.search(index=self.alerts_index, size=100, sort=[{"fired_at": "asc"}])["hits"]["hits"]
        return [hit["_source"] for hit in hits]


@pytest.fixture
def world(stack: object, settings: Settings, unique_name: str) -> Iterator[World]:
    es = elasticsearch_client(settings)
    alerts_index = f"{unique_name}-alerts"
    articles = ArticleIndex(es, f"{unique_name}-news")
    webhook, smtp = WebhookReceiver(), SmtpSink()
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        yield World(es, articles, alerts_index, webhook, smtp, ManualClock(now), settings, [])
    finally:
        webhook.close()
        smtp.close()
        delete_indices(es, articles.name, alerts_index, f"{alerts_index}-state")
        es.close()


@pytest.fixture
async def closing() -> AsyncIterator[list[Alerter]]:
    alerters: list[Alerter] = []
    yield alerters
    for alerter in alerters:
        await alerter.drain(5)
        await alerter.store.es.close()


RULE = """
- name: troop-buildup
  query: 'tags:"troop-buildup"'
  window: 10s
  threshold: 3
  min_sources: 2
  cooldown: 20s
  channels: [webhook, email]
"""


async def test_an_alerter_creates_its_indices_before_its_first_pass(world: World, closing: list[Alerter]) -> None:
    alerter = world.alerter(world.rules(RULE))
    closing.append(alerter)
    await alerter.start()
    indices = [world.alerts_index, f"{world.alerts_index}-state"]
    for index in indices:  # declared, not guessed by an auto-creating first write
        assert world.es.indices.get_mapping(index=index)[index]["mappings"]["dynamic"] == "strict"
    health = world.es.cluster.health(index=indices, timeout="0s")
    assert health["active_primary_shards"] == 2, health


async def test_crossing_notifies_once_then_cooldown_then_once_more(world: World, closing: list[Alerter]) -> None:
    alerter = world.alerter(world.rules(RULE))
    closing.append(alerter)
    await alerter.start()
    t0 = world.clock.now
    world.articles.burst(2, t0 - timedelta(seconds=1))
    world.articles.add(t0, tag="other-tag", source="Wire Z")  # does not match the rule
    assert await alerter.evaluate_once() == []

    world.articles.add(world.clock.advance(1), source="Wire C", title="Satellite images show armour")
    (fired,) = await alerter.evaluate_once()
    await alerter.drain(10)
    assert len(world.webhook.received) == 1 and len(world.smtp.messages) == 1
    body = world.webhook.received[0].body
    assert body["text"].startswith(":rotating_light: *troop-buildup: 3 articles in 10s from 3 sources")
    assert body["alert"]["count"] == 3 and body["alert"]["threshold"] == 3
    assert "Satellite images show armour" in [a["title"] for a in body["alert"]["top_articles"]]
    assert world.webhook.received[0].headers["Authorization"] == f"Bearer {TOKEN}"
    message = world.smtp.messages[0]
    assert message["Subject"] == "newswatch alert: troop-buildup: 3 articles in 10s from 3 sources (threshold 3)"
    assert "Satellite images show armour" in message.get_content() and "/app/discover#/" in message.get_content()
    assert world.printed and world.printed[0].startswith("ALERT troop-buildup: 3 articles")

    # more matching articles inside the cooldown: nothing more
    for _ in range(3):
        world.articles.add(world.clock.advance(2), source="Wire D")
        assert await alerter.evaluate_once() == []
    # after the cooldown, a new crossing: one more
    world.clock.advance(20)
    world.articles.burst(3, world.clock.now - timedelta(seconds=1))
    (second,) = await alerter.evaluate_once()
    assert await alerter.evaluate_once() == []
    await alerter.drain(10)
    assert len(world.webhook.received) == 2 and len(world.smtp.messages) == 2
    docs = world.alert_docs()
    assert [d["alert_id"] for d in docs] == [fired["alert_id"], second["alert_id"]]
    first = docs[0]
    assert first["deliveries"]["webhook"]["status"] == SENT and first["deliveries"]["email"]["status"] == SENT
    assert first["deliveries"]["console"]["status"] == SENT and first["delivery_state"] == "done"
    assert first["first_article"] is not None and first["source_count"] == 3
    assert TOKEN not in json.dumps(docs) and "sEcReT" not in json.dumps(docs)


GROUPED = """
- name: buildup-by-place
  query: 'tags:"troop-buildup"'
  window: 10s
  threshold: 2
  group_by: places
  cooldown: 30s
  channels: [webhook]
"""


async def test_restart_catches_up_on_a_crossing_while_down_and_never_repeats(
    world: World, closing: list[Alerter]
) -> None:
    rules = world.rules(GROUPED)
    first = world.alerter(rules)
    closing.append(first)
    await first.start()
    world.articles.burst(2, world.clock.now, places=("Ukraine",))
    assert len(await first.evaluate_once()) == 1
    await first.drain(10)
    # "down" for a minute: Belarus crosses meanwhile, and Ukraine keeps its coverage up
    down_at = world.clock.now
    world.articles.burst(2, down_at + timedelta(seconds=20), places=("Belarus",))
    world.articles.burst(2, down_at + timedelta(seconds=40), places=("Ukraine",))
    world.clock.advance(60)
    second = world.alerter(rules)  # a new process: everything it knows comes from Elasticsearch
    closing.append(second)
    await second.start()
    fired = await second.evaluate_once()
    await second.drain(10)
    # one alert per group: Belarus (while down), Ukraine again (its second burst is past the cooldown)
    assert sorted(doc["group"] for doc in fired) == ["Belarus", "Ukraine"]
    belarus = next(doc for doc in fired if doc["group"] == "Belarus")
    assert belarus["window_end"] <= iso(int((down_at + timedelta(seconds=21)).timestamp() * 1000))
    assert belarus["detection_delay_seconds"] > 30
    for _ in range(3):
        world.clock.advance(1)
        assert await second.evaluate_once() == []
    assert sorted(r.body["alert"]["group"] for r in world.webhook.received) == ["Belarus", "Ukraine", "Ukraine"]


async def test_every_crossing_group_fires_however_many_pages_of_groups_there_are(
    world: World, closing: list[Alerter]
) -> None:
    rules = world.rules(GROUPED)
    first = world.alerter(rules, groups_per_page=3)
    closing.append(first)
    await first.start()
    live = [f"live-{i:02d}" for i in range(8)]
    for place in live:
        world.articles.burst(2, world.clock.now, places=(place,), refresh=False)
    for place in live[:5]:  # groups that cannot cross, between the others in key order
        world.articles.add(world.clock.now, places=(f"{place}-alone",), refresh=False)
    world.es.indices.refresh(index=world.articles.name)
    fired = await first.evaluate_once()  # 13 groups, pages of 3
    assert sorted(doc["group"] for doc in fired) == live
    await first.drain(10)
    # many groups cross while no alerter runs, in windows that have all closed before the restart
    down_at = world.clock.now
    missed = [f"missed-{i:02d}" for i in range(10)]
    for place in missed:
        world.articles.burst(2, down_at + timedelta(seconds=15), places=(place,), refresh=False)
    world.es.indices.refresh(index=world.articles.name)
    world.clock.advance(60)
    second = world.alerter(rules, groups_per_page=3)
    closing.append(second)
    await second.start()
    fired = await second.evaluate_once()
    assert sorted(doc["group"] for doc in fired) == missed
    assert all(doc["detection_delay_seconds"] > 30 for doc in fired)
    world.clock.advance(1)
    assert await second.evaluate_once() == []
    await second.drain(10)
    assert len(world.webhook.received) == len(live) + len(missed)


async def test_a_late_article_counts_in_its_own_window(world: World, closing: list[Alerter]) -> None:
    alerter = world.alerter(world.rules(GROUPED))
    closing.append(alerter)
    await alerter.start()
    t0 = world.clock.now
    world.articles.add(t0 - timedelta(seconds=45), places=("Moldova",))  # on time, alone: no crossing
    assert await alerter.evaluate_once() == []
    world.clock.advance(1)
    assert await alerter.evaluate_once() == []
    # a second article published 44 s ago arrives only now: its window (45..35 s ago) crosses
    world.articles.add(t0 - timedelta(seconds=44), places=("Moldova",), indexed=world.clock.now)
    world.clock.advance(1)
    (fired,) = await alerter.evaluate_once()
    assert fired["group"] == "Moldova" and fired["count"] == 2 and fired["detection_delay_seconds"] > 30
    world.clock.advance(1)
    assert await alerter.evaluate_once() == []


async def test_failing_webhook_is_retried_and_never_holds_up_the_email(world: World, closing: list[Alerter]) -> None:
    flaky = WebhookReceiver(fail_first=2)
    try:
        alerter = world.alerter(world.rules(RULE), webhook_url=flaky.url, attempts=4)
        closing.append(alerter)
        await alerter.start()
        world.articles.burst(3, world.clock.now)
        (fired,) = await alerter.evaluate_once()
        await alerter.drain(15)
        assert flaky.attempts == 3 and len(flaky.received) == 1 and len(world.smtp.messages) == 1
        (doc,) = world.alert_docs()
        assert doc["deliveries"]["webhook"]["status"] == SENT and doc["deliveries"]["webhook"]["attempts"] == 3
        assert doc["deliveries"]["email"] == {**doc["deliveries"]["email"], "status": SENT, "attempts": 1}
    finally:
        flaky.close()


async def test_webhook_down_is_recorded_as_failed_and_the_email_still_goes(
    world: World, closing: list[Alerter]
) -> None:
    down = WebhookReceiver()
    url = down.url
    down.close()  # nothing listens there any more: connection refused
    alerter = world.alerter(world.rules(RULE), webhook_url=url, attempts=3)
    closing.append(alerter)
    await alerter.start()
    world.articles.burst(3, world.clock.now)
    await alerter.evaluate_once()
    assert poll_until(lambda: len(world.smtp.messages) == 1, 5)  # the e-mail does not wait for the webhook
    world.clock.advance(1)
    assert await alerter.evaluate_once() == []  # nor does evaluation
    await alerter.drain(15)
    (doc,) = world.alert_docs()
    webhook = doc["deliveries"]["webhook"]
    assert webhook["status"] == "failed" and webhook["attempts"] == 3 and "ConnectError" in webhook["error"]
    assert doc["deliveries"]["email"]["status"] == SENT and doc["delivery_state"] == "done"
    assert "sEcReT" not in json.dumps(doc) and TOKEN not in json.dumps(doc)


async def test_alerts_abandoned_by_a_crashed_process_are_delivered_by_another(
    world: World, closing: list[Alerter]
) -> None:
    rules = world.rules(RULE)
    alerter = world.alerter(rules)
    closing.append(alerter)
    await alerter.store.ensure_indices()
    now_ms = int(world.clock.now.timestamp() * 1000)
    # What a process leaves behind when killed between creating an alert and delivering it:
    orphan = build_alert(
        rules[0],
        WindowCount(None, now_ms - 10_000, now_ms, 3, frozenset(), live=True),
        WindowArticles((), None, None, (), 0),
        seq=1,
        fired_at_ms=now_ms,
        fired_by="crashed:1:x",
        targets={"console": "stdout", "webhook": "x", "email": "y"},
        lease_until_ms=now_ms - 1,
        kibana_base="http://k",
        kibana_data_view="news",
    )
    orphan["deliveries"]["email"]["status"] = SENT  # it got as far as the e-mail
    assert await alerter.store.create_alert(orphan)
    world.es.indices.refresh(index=world.alerts_index)
    claimed = await alerter.store.claim_abandoned(now_ms, alerter.instance, now_ms + 30_000)
    assert [doc["alert_id"] for doc in claimed] == [orphan["alert_id"]]
    assert await alerter.store.claim_abandoned(now_ms, "another", now_ms + 30_000) == []  # claimed once
    for doc in claimed:
        await alerter._deliver_all(doc)
    assert len(world.webhook.received) == 1 and world.smtp.messages == []  # only what was missing
    (doc,) = world.alert_docs()
    assert doc["delivery_state"] == "done" and doc["lease_owner"] == alerter.instance


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_email_with_login_and_a_refused_login(world: World, closing: list[Alerter]) -> None:
    secured = SmtpSink(username="desk", password="pw-secret-42")
    try:
        server = SmtpServer("127.0.0.1", secured.port, "none", "desk", SecretStr("pw-secret-42"))
        alerter = world.alerter(world.rules(RULE), smtp=server)
        closing.append(alerter)
        await alerter.start()
        world.articles.burst(3, world.clock.now)
        assert len(await alerter.evaluate_once()) == 1
        await alerter.drain(10)
        assert secured.logins == ["desk"] and len(secured.messages) == 1

        wrong = SmtpServer("127.0.0.1", secured.port, "none", "desk", SecretStr("not-the-password"))
        refused = world.alerter(world.rules(RULE.replace("troop-buildup", "refused", 1)), smtp=wrong, attempts=3)
        closing.append(refused)
        await refused.start()
        assert len(await refused.evaluate_once()) == 1
        await refused.drain(10)
        doc = next(d for d in world.alert_docs() if d["rule"] == "refused")
        email = doc["deliveries"]["email"]
        assert email["status"] == "failed" and email["attempts"] == 1 and "login refused" in email["error"], email
        assert len(secured.messages) == 1 and "not-the-password" not in json.dumps(doc)
    finally:
        secured.close()


async def test_elasticsearch_outage_is_ridden_out_and_caught_up(world: World, closing: list[Alerter]) -> None:
    from elasticsearch import AsyncElasticsearch

    from newswatch.stack.process import free_port

    alerter = world.alerter(world.rules(GROUPED))
    closing.append(alerter)
    await alerter.start()

    def lag() -> float | None:
        labels = {"rule": "buildup-by-place"}
        return alerter.metrics.registry.get_sample_value("newswatch_alert_evaluation_lag_seconds", labels)

    world.clock.advance(2)
    assert lag() == 2  # never evaluated yet: behind since the alerter began
    assert await alerter.evaluate_once() == []
    assert lag() == 0
    world.clock.advance(1.5)
    assert lag() == 1.5  # read when scraped: it moves with the clock, not only after a pass
    real_es = alerter.store.es
    # Elasticsearch "goes away" (a client aimed at a port nothing listens on; the shared node stays up)
    alerter.store.es = AsyncElasticsearch(f"http://127.0.0.1:{free_port()}", request_timeout=1, max_retries=0)
    try:
        outage_start = world.clock.now
        world.articles.burst(2, outage_start + timedelta(seconds=5), places=("Estonia",))
        for _ in range(3):
            world.clock.advance(10)
            assert await alerter.evaluate_once() == []  # no crash, nothing fired, watermark held
        healthy, details = alerter.health()
        assert not healthy and "Connection" in str(details["elasticsearch"])
        assert lag() == 31.5  # the whole outage, since the last evaluation that completed
    finally:
        await alerter.store.es.close()
        alerter.store.es = real_es
    (fired,) = await alerter.evaluate_once()  # back: the crossing during the outage, once
    assert fired["group"] == "Estonia" and fired["detection_delay_seconds"] > 20
    assert alerter.health()[0] and lag() == 0
    world.clock.advance(1)
    assert await alerter.evaluate_once() == []


async def test_two_alerters_deciding_in_the_same_instant_fire_once(world: World, closing: list[Alerter]) -> None:
    rules = world.rules(GROUPED)
    racers = [world.alerter(rules), world.alerter(rules), world.alerter(rules)]
    closing.extend(racers)
    creates: list[bool] = []
    for racer in racers:
        await racer.start()
        real_create = racer.store.create_alert

        async def create(doc: dict[str, Any], real_create: Any = real_create) -> bool:
            created = await real_create(doc)
            creates.append(created)
            return created

        racer.store.create_alert = create  # type: ignore[method-assign]
    world.articles.burst(2, world.clock.now, places=("Latvia",))
    world.articles.burst(2, world.clock.now, places=("Lithuania",))
    # Same clock, same data, interleaved at every await: all decide to fire, the creates race.
    results = await asyncio.gather(*(racer.evaluate_once() for racer in racers))
    fired = [doc for result in results for doc in result]
    assert sorted(doc["group"] for doc in fired) == ["Latvia", "Lithuania"]
    assert creates.count(True) == 2 and creates.count(False) >= 1  # the race did happen, and was lost
    for racer in racers:
        await racer.drain(10)
    assert sorted(r.body["alert"]["group"] for r in world.webhook.received) == ["Latvia", "Lithuania"]
    assert len(world.alert_docs()) == 2
