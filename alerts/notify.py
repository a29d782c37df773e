"""What a watch officer receives, built from the alert document alone: pure.

Built from the stored document (not from in-memory evaluation state) so that a process finishing the
deliveries of a crashed one sends exactly what the first would have sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from alerts.document import epoch_ms

# The alert fields a webhook receiver gets (the delivery bookkeeping stays in Elasticsearch).
WEBHOOK_FIELDS = (
    "alert_id", "rule", "group_by", "group", "count", "threshold", "min_sources", "window", "window_start",
    "window_end", "first_article", "last_article", "source_count", "sources", "top_articles", "query",
    "kibana_url", "fired_at", "detection_delay_seconds",
)  # fmt: skip


def _time(value: str | None) -> str:
    return "-" if not value else value.replace("T", " ")[:19] + " UTC"


def scope(doc: Mapping[str, Any]) -> str:
    return f" [{doc['group_by']}={doc['group']}]" if doc.get("group_by") and doc.get("group") is not None else ""


def headline(doc: Mapping[str, Any]) -> str:
    sources = f" from {doc['source_count']} sources" if doc.get("source_count") else ""
    return (
        f"{doc['rule']}{scope(doc)}: {doc['count']} articles in {doc['window']}{sources} (threshold {doc['threshold']})"
    )


def _late_note(doc: Mapping[str, Any]) -> str:
    delay = float(doc.get("detection_delay_seconds") or 0)
    if delay < 60:
        return ""
    return f" (seen {delay / 60:.0f} min after the window closed: the alerter was catching up or articles came late)"


def console_text(doc: Mapping[str, Any]) -> str:
    lines = [
        f"ALERT {headline(doc)}",
        f"  window {_time(doc.get('window_start'))} .. {_time(doc.get('window_end'))}{_late_note(doc)}",
        f"  articles {_time(doc.get('first_article'))} .. {_time(doc.get('last_article'))}; "
        f"sources: {', '.join(doc.get('sources') or []) or '-'}",
    ]
    for article in doc.get("top_articles") or []:
        lines.append(f"  - {article['title']} ({article['source']}) {article['url']}")
    lines.append(f"  query: {doc['query']}")
    lines.append(f"  kibana: {doc['kibana_url']}")
    lines.append(f"  id: {doc['alert_id']}")
    return "\n".join(lines)


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats only these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(doc: Mapping[str, Any]) -> str:
    lines = [
        f":rotating_light: *{_slack_escape(headline(doc))}*",
        f"Window {_time(doc.get('window_start'))} – {_time(doc.get('window_end'))}{_slack_escape(_late_note(doc))}",
    ]
    for article in doc.get("top_articles") or []:
        title = _slack_escape(article["title"] or article["url"]).replace("|", "¦")
        lines.append(f"• <{article['url']}|{title}> — {_slack_escape(article['source'])}")
    lines.append(f"Query `{_slack_escape(doc['query'])}` · <{doc['kibana_url']}|Open in Kibana>")
    return "\n".join(lines)


def webhook_payload(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Generic JSON with a Slack-compatible ``text`` (Slack incoming webhooks ignore the rest)."""
    return {"text": slack_text(doc), "alert": {key: doc.get(key) for key in WEBHOOK_FIELDS}}


def email_subject(doc: Mapping[str, Any]) -> str:
    return f"newswatch alert: {headline(doc)}"


def email_body(doc: Mapping[str, Any]) -> str:
    lines = [
        headline(doc),
        "",
        f"Window:   {_time(doc.get('window_start'))} .. {_time(doc.get('window_end'))}{_late_note(doc)}",
        f"Articles: {_time(doc.get('first_article'))} .. {_time(doc.get('last_article'))}",
        f"Sources:  {', '.join(doc.get('sources') or []) or '-'}",
        f"Query:    {doc['query']}",
        "",
        "Newest articles:",
    ]
    for article in doc.get("top_articles") or []:
        lines.append(f"- {article['title']}")
        lines.append(f"  {article['source']}, {_time(article.get('published'))}")
        lines.append(f"  {article['url']}")
    lines += ["", f"Open in Kibana: {doc['kibana_url']}", ""]
    lines.append(f"Alert {doc['alert_id']}, fired {_time(doc['fired_at'])}")
    return "\n".join(lines) + "\n"


def email_message(doc: Mapping[str, Any], sender: str, recipients: Sequence[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = email_subject(doc)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(datetime.fromtimestamp(epoch_ms(doc["fired_at"]) / 1000, UTC))
    # The same Message-ID on a redelivery (after a crash mid-send) lets mail systems drop the copy.
    digest = hashlib.sha256(doc["alert_id"].encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@newswatch.alerts>"
    message["X-Newswatch-Alert-Id"] = doc["alert_id"]
    message.set_content(email_body(doc))
    return message
