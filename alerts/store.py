"""Everything the alerter asks of Elasticsearch: the one module that talks to it.

Failure kinds: ``StoreUnavailable`` (connection refused, timeouts, 429/5xx) means "retry later" —
the evaluation loop keeps its watermark and catches up when Elasticsearch is back. A per-rule search
error (a query the cluster rejects, a missing source index) fails only that rule. Anything else is a
bug and propagates (the process crashes; its state in Elasticsearch lets a restart resume cleanly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch, ConflictError, NotFoundError

from alerts.document import (
    ALERTS_MAPPINGS,
    DELIVERING,
    DONE,
    INDEX_SETTINGS,
    STATE_MAPPINGS,
    alert_id,
    chain_after,
    chain_document,
    chain_id,
    epoch_ms,
    iso,
    state_index,
    watermark_document,
    watermark_id,
)
from alerts.queries import (
    GROUPS_PER_PAGE,
    HistogramResult,
    WindowArticles,
    groups_per_page,
    histogram_search,
    late_search,
    parse_histogram,
    parse_late,
    parse_window_articles,
    query_clause,
    validation_problem,
    window_articles_search,
)
from alerts.rule import Rule
from alerts.windows import ChainState, GroupSeries, Plan, WindowCount, widen_for_late


class StoreUnavailable(RuntimeError):
    """Elasticsearch cannot answer right now (down, overloaded): retry later."""


@dataclass(frozen=True)
class Evaluated:
    plan: Plan
    result: HistogramResult


@dataclass(frozen=True)
class EvaluationFailed:
    rule: Rule
    reason: str


def _unavailable(exc: Exception) -> bool:
    if isinstance(exc, TransportError):  # connection refused/reset, timeouts
        return True
    return isinstance(exc, ApiError) and exc.status_code in (429, 502, 503, 504)


def _reason(item: Mapping[str, Any]) -> str:
    error = item.get("error", {})
    if isinstance(error, Mapping):
        cause = (error.get("root_cause") or [error])[0]
        return f"{cause.get('type', 'error')}: {cause.get('reason', error)}"
    return str(error)


class AlertStore:
    def __init__(
        self, es: AsyncElasticsearch, *, source: str, alerts_index: str, groups_per_page: int = GROUPS_PER_PAGE
    ) -> None:
        self.es = es
        self.groups_per_page = groups_per_page
        self.source = source
        self.alerts_index = alerts_index
        self.state_index = state_index(alerts_index)

    async def call(self, method: Any, /, **kwargs: Any) -> Any:
        """One Elasticsearch call; outages become ``StoreUnavailable``."""
        try:
            return await method(**kwargs)
        except (TransportError, ApiError) as exc:
            if _unavailable(exc):
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise

    # --- set-up ----------------------------------------------------------------------------
    async def ensure_indices(self) -> None:
        """Create the alerts and state indices if missing (idempotent; several alerters may race)."""
        for index, mappings in ((self.alerts_index, ALERTS_MAPPINGS), (self.state_index, STATE_MAPPINGS)):
            if await self.call(self.es.indices.exists, index=index):
                continue
            try:
                await self.call(self.es.indices.create, index=index, mappings=mappings, settings=INDEX_SETTINGS)
            except ApiError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise

    async def query_problems(self, rules: Sequence[Rule]) -> list[str]:
        """Each rule's query as Elasticsearch parses it against the source's mapping ("rule, field, reason")."""
        index = self.source if await self.call(self.es.indices.exists, index=self.source) else self.state_index
        problems = []
        for rule in rules:
            answer = await self.call(
                self.es.indices.validate_query, index=index, query=query_clause(rule), explain=True
            )
            reason = validation_problem(answer.body)
            if reason is not None:
                problems.append(f"rule {rule.name!r}: query: {reason[:400]}")
        return problems

    # --- evaluation ------------------------------------------------------------------------
    def _page_size(self, plan: Plan) -> int:
        return groups_per_page(plan, self.groups_per_page)

    async def evaluate(
        self, plans: Sequence[Plan], lookback_ms: int, *, all_groups: bool = False
    ) -> list[Evaluated | EvaluationFailed]:
        """Count every plan's windows: one ``_msearch`` for all rules, more only for rules with late articles
        (counted again over their wider range) or more groups than one page (the following pages).

        A rule is evaluated only once every page of its groups has been read: its result is then complete,
        so the caller may move its watermark on without skipping a group."""
        searches: list[dict[str, Any]] = []
        slots: list[tuple[int, str]] = []
        for position, plan in enumerate(plans):
            searches += [{"index": self.source}, histogram_search(plan, page_size=self._page_size(plan))]
            slots.append((position, "histogram"))
            late = late_search(plan, plan.now_ms - lookback_ms)
            if late is not None:
                searches += [{"index": self.source}, late]
                slots.append((position, "late"))
        answers = (await self.call(self.es.msearch, searches=searches))["responses"]
        counted: dict[int, Plan] = dict(enumerate(plans))  # the plan each rule's counts belong to
        series: dict[int, list[GroupSeries]] = {position: [] for position in counted}
        failed: dict[int, EvaluationFailed] = {}
        # position -> where its next page of groups starts (None: the first page of a widened plan)
        pending: dict[int, dict[str, Any] | None] = {}
        for (position, kind), answer in zip(slots, answers, strict=True):
            plan = plans[position]
            if position in failed:
                continue
            if "error" in answer:
                failed[position] = EvaluationFailed(plan.rule, _reason(answer))
                pending.pop(position, None)
            elif kind == "histogram":
                page = parse_histogram(plan.rule, answer, page_size=self._page_size(plan), all_groups=all_groups)
                series[position] += page.series
                if page.after is not None:
                    pending[position] = page.after
            else:
                wider = widen_for_late(plan, parse_late(answer), lookback_ms)
                if wider is not None:  # count again from the first page, over the wider range
                    counted[position], series[position], pending[position] = wider, [], None
        while pending:
            positions = list(pending)
            searches = []
            for position in positions:
                plan = counted[position]
                next_page = histogram_search(plan, after=pending[position], page_size=self._page_size(plan))
                searches += [{"index": self.source}, next_page]
            answers = (await self.call(self.es.msearch, searches=searches))["responses"]
            pending = {}
            for position, answer in zip(positions, answers, strict=True):
                plan = counted[position]
                if "error" in answer:
                    failed[position] = EvaluationFailed(plan.rule, _reason(answer))
                    continue
                page = parse_histogram(plan.rule, answer, page_size=self._page_size(plan), all_groups=all_groups)
                series[position] += page.series
                if page.after is not None:
                    pending[position] = page.after
        return [
            failed.get(position) or Evaluated(counted[position], HistogramResult(series[position]))
            for position in range(len(plans))
        ]

    async def window_articles(self, rule: Rule, window: WindowCount) -> WindowArticles:
        answer = await self.call(self.es.search, index=self.source, **window_articles_search(rule, window))
        return parse_window_articles(answer.body)

    # --- state -------------------------------------------------------------------------------
    async def load_watermarks(self, rules: Sequence[Rule]) -> dict[str, int | None]:
        """Until when each rule was evaluated; None for new rules and for rules whose counting changed."""
        answer = await self.call(self.es.mget, index=self.state_index, ids=[watermark_id(r.name) for r in rules])
        found = {doc["_id"]: doc.get("_source", {}) for doc in answer["docs"] if doc.get("found")}
        marks: dict[str, int | None] = {}
        for rule in rules:
            doc = found.get(watermark_id(rule.name))
            fits = doc is not None and doc.get("rule_fingerprint") == rule.fingerprint
            marks[rule.name] = epoch_ms(doc["evaluated_until"]) if fits and doc else None
        return marks

    async def save_watermarks(self, marks: Mapping[Rule, int], updated_by: str) -> None:
        operations: list[dict[str, Any]] = []
        for rule, until_ms in marks.items():
            operations += [
                {"index": {"_index": self.state_index, "_id": watermark_id(rule.name)}},
                watermark_document(rule, until_ms, updated_by),
            ]
        if operations:
            await self.call(self.es.bulk, operations=operations)

    async def _get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        try:
            answer = await self.call(self.es.get, index=index, id=doc_id)
        except NotFoundError:
            return None
        return dict(answer["_source"])

    async def load_chain(self, rule: str, group: str | None) -> ChainState:
        """The newest alert of a rule and group: from the hint, then real-time GETs of the following ids."""
        hint = await self._get(self.state_index, chain_id(rule, group))
        state = ChainState() if hint is None else ChainState(int(hint["seq"]), epoch_ms(hint["fired_at"]))
        while (doc := await self._get(self.alerts_index, alert_id(rule, group, state.seq + 1))) is not None:
            state = chain_after(doc)
        return state

    async def create_alert(self, doc: Mapping[str, Any]) -> bool:
        """Write a new alert; False when that id exists (another process fired it first)."""
        try:
            await self.call(self.es.create, index=self.alerts_index, id=doc["alert_id"], document=dict(doc))
        except ConflictError:
            return False
        return True

    async def save_chain_hint(self, doc: Mapping[str, Any], updated_by: str, now_ms: int) -> None:
        hint = chain_document(doc, updated_by, now_ms)
        await self.call(self.es.index, index=self.state_index, id=chain_id(doc["rule"], doc["group"]), document=hint)

    # --- the delivery outbox ---------------------------------------------------------------
    async def record_delivery(self, alert: str, channel: str, entry: Mapping[str, Any]) -> None:
        # A partial update merges `deliveries`: channels finishing at once do not overwrite each other.
        await self.call(
            self.es.update,
            index=self.alerts_index,
            id=alert,
            doc={"deliveries": {channel: dict(entry)}},
            retry_on_conflict=10,
        )

    async def finish(self, alert: str, now_ms: int) -> None:
        doc = {"delivery_state": DONE, "lease_until": iso(now_ms)}
        await self.call(self.es.update, index=self.alerts_index, id=alert, doc=doc, retry_on_conflict=10)

    async def renew_leases(self, alerts: Sequence[str], owner: str, until_ms: int) -> None:
        operations: list[dict[str, Any]] = []
        for alert in alerts:
            operations += [
                {"update": {"_index": self.alerts_index, "_id": alert, "retry_on_conflict": 5}},
                {"doc": {"lease_owner": owner, "lease_until": iso(until_ms)}},
            ]
        if operations:
            await self.call(self.es.bulk, operations=operations)

    async def claim_abandoned(self, now_ms: int, owner: str, until_ms: int, limit: int = 20) -> list[dict[str, Any]]:
        """Alerts whose deliverer stopped renewing its lease (it crashed), claimed for ``owner``."""
        answer = await self.call(
            self.es.search,
            index=self.alerts_index,
            query={
                "bool": {
                    "filter": [
                        {"term": {"delivery_state": DELIVERING}},
                        {"range": {"lease_until": {"lt": now_ms, "format": "epoch_millis"}}},
                    ]
                }
            },
            sort=[{"fired_at": "asc"}],
            size=limit,
            seq_no_primary_term=True,
        )
        claimed = []
        for hit in answer["hits"]["hits"]:
            try:
                # Only one claimant wins: the update is conditional on the version it saw.
                await self.call(
                    self.es.update,
                    index=self.alerts_index,
                    id=hit["_id"],
                    doc={"lease_owner": owner, "lease_until": iso(until_ms)},
                    if_seq_no=hit["_seq_no"],
                    if_primary_term=hit["_primary_term"],
                )
            except ConflictError:
                continue
            doc = await self._get(self.alerts_index, hit["_id"])
            if doc is not None:
                claimed.append(doc)
        return claimed

    # --- reading, for people -----------------------------------------------------------------
    async def recent_alerts(self, since_ms: int, limit: int = 100) -> list[dict[str, Any]]:
        try:
            answer = await self.call(
                self.es.search,
                index=self.alerts_index,
                query={"range": {"fired_at": {"gte": since_ms, "format": "epoch_millis"}}},
                sort=[{"fired_at": "desc"}],
                size=limit,
            )
        except NotFoundError:
            return []
        return [dict(hit["_source"]) for hit in answer["hits"]["hits"]]
