"""`newswatch alerts test RULE`: one rule's live window evaluated now, and what it would send. Writes nothing."""

from __future__ import annotations

import json
from typing import Any

from alerts.channels import configured_channels
from alerts.document import build_alert, iso
from alerts.notify import email_body, email_subject, webhook_payload
from alerts.rule import Rule
from alerts.service import utc_now
from alerts.store import AlertStore, EvaluationFailed
from alerts.windows import crosses, eligible, plan_evaluation, windows

SHOWN_GROUPS = 10


async def preview_rule(settings: Any, rule: Rule) -> str:
    from alerts.cli import source_index
    from newswatch.clients import async_elasticsearch_client

    es = async_elasticsearch_client(settings)
    try:
        store = AlertStore(es, source=source_index(settings), alerts_index=settings.alerts_index)
        return await _preview(store, settings, rule)
    finally:
        await es.close()


async def _preview(store: AlertStore, settings: Any, rule: Rule) -> str:
    now_ms = int(utc_now().timestamp() * 1000)
    plan = plan_evaluation(rule, now_ms, None, int(settings.alerts_lookback * 1000))
    (result,) = await store.evaluate([plan], int(settings.alerts_lookback * 1000), all_groups=True)
    if isinstance(result, EvaluationFailed):
        return f"rule {rule.name!r}: Elasticsearch rejected the evaluation: {result.reason}"
    lives = [next(iter(windows(plan, series))) for series in result.result.series]
    lives.sort(key=lambda w: w.count, reverse=True)
    scope = f", per {rule.group_by}" if rule.group_by else ""
    lines = [
        f"rule {rule.name}: {rule.query}",
        f"window {rule.window_text} (steps of {rule.step_seconds}s){scope}, threshold {rule.threshold}, "
        f"min_sources {rule.min_sources}, cooldown {rule.cooldown}s, channels {', '.join(rule.channels)}",
        f"live window {iso(plan.range_start_ms)} .. {iso(now_ms)} in {store.source}:",
    ]
    if not lives:
        lines.append("  no matching articles in the window: would not fire")
    for window in lives[:SHOWN_GROUPS]:
        label = f"{rule.group_by}={window.group}" if rule.group_by else "all"
        sources = f", {len(window.sources)} sources" if rule.min_sources > 1 else ""
        lines.append(f"  {label}: {window.count} articles{sources}{' -> crosses' if crosses(rule, window) else ''}")
    if len(lives) > SHOWN_GROUPS:
        lines.append(f"  ... and {len(lives) - SHOWN_GROUPS} more groups")
    channels = configured_channels(settings)
    for window in [w for w in lives if crosses(rule, w)]:
        chain = await store.load_chain(rule.name, window.group)
        if not eligible(rule, window, chain):
            until = iso((chain.fired_at_ms or 0) + rule.cooldown * 1000)
            lines.append(f"\n[{window.group or 'all'}] in cooldown until {until}: would not send now")
            continue
        articles = await store.window_articles(rule, window)
        doc = build_alert(
            rule,
            window,
            articles,
            seq=chain.seq + 1,
            fired_at_ms=now_ms,
            fired_by="preview",
            targets={name: channels[name].target for name in rule.channels if name in channels},
            lease_until_ms=now_ms,
            kibana_base=settings.alerts_kibana_url,
            kibana_data_view=settings.alerts_kibana_data_view,
        )
        lines += [
            f"\n[{window.group or 'all'}] would send (nothing is sent by `alerts test`):",
            f"e-mail subject: {email_subject(doc)}",
            "e-mail body:",
            email_body(doc),
            "webhook JSON:",
            json.dumps(webhook_payload(doc), ensure_ascii=False, indent=2),
        ]
    return "\n".join(lines)
