"""Channels from settings and files, secrets kept out of text, and delivery retries (HTTP transport injected)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from alerts.channels import (
    ChannelsError,
    EmailChannel,
    Redactor,
    WebhookChannel,
    configured_channels,
)
from alerts.delivery import DeliveryPolicy, WebhookSender, deliver
from alerts.document import FAILED, SENT
from newswatch.settings import Settings

SLACK_URL = "https://hooks.slack.example/services/T000/B000/sEcReTpAtH"


def settings(**values: str) -> Settings:
    return Settings.load({f"NEWSWATCH_{key.upper()}": value for key, value in values.items()})


def test_only_the_console_when_nothing_is_configured() -> None:
    assert list(configured_channels(settings())) == ["console"]


def test_webhook_and_email_from_settings() -> None:
    channels = configured_channels(
        settings(
            alerts_webhook_url=SLACK_URL,
            alerts_webhook_token="tok-123456",
            alerts_smtp_host="mx.example",
            alerts_smtp_port="2525",
            alerts_smtp_security="none",
            alerts_smtp_username="desk",
            alerts_smtp_password="hunter22",
            alerts_email_to="duty@example.org, lead@example.org",
        )
    )
    webhook, email = channels["webhook"], channels["email"]
    assert isinstance(webhook, WebhookChannel) and isinstance(email, EmailChannel)
    assert webhook.target == "https://hooks.slack.example"  # the path is the secret part
    assert email.recipients == ("duty@example.org", "lead@example.org") and email.server.port == 2525
    assert "hunter22" not in repr(email) and "sEcReT" not in repr(webhook)


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "url").write_text(SLACK_URL + "\n")
    (tmp_path / "password").write_text("from-a-file\n")
    channels = configured_channels(
        settings(
            alerts_webhook_url_file=str(tmp_path / "url"),
            alerts_smtp_host="mx",
            alerts_smtp_username="u",
            alerts_smtp_password_file=str(tmp_path / "password"),
            alerts_email_to="a@b.c",
        )
    )
    assert channels["webhook"].url.get_secret_value() == SLACK_URL  # type: ignore[union-attr]
    assert channels["email"].server.password.get_secret_value() == "from-a-file"  # type: ignore[union-attr]
    with pytest.raises(ChannelsError, match="both set"):
        configured_channels(settings(alerts_webhook_url=SLACK_URL, alerts_webhook_url_file=str(tmp_path / "url")))
    with pytest.raises(ChannelsError, match="cannot read"):
        configured_channels(settings(alerts_webhook_url_file=str(tmp_path / "missing")))


def test_bad_webhook_url_is_refused_without_showing_it() -> None:
    with pytest.raises(ChannelsError) as caught:
        configured_channels(settings(alerts_webhook_url="hooks.example/secret-token"))
    assert "secret-token" not in str(caught.value) and "NEWSWATCH_ALERTS_WEBHOOK_URL" in str(caught.value)


def test_channels_file(tmp_path: Path) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(
        """
channels:
  ops-slack: {type: webhook, url_env: OPS_URL, token_env: OPS_TOKEN}
  intranet: {type: webhook, url: "http://alerts.intranet.example/hook"}
  duty-desk: {type: email, to: [duty@example.org], from: desk@example.org}
"""
    )
    env = {"OPS_URL": SLACK_URL, "OPS_TOKEN": "ops-token-1"}
    channels = configured_channels(
        settings(alerts_channels_file=str(path), alerts_smtp_host="mx", alerts_smtp_security="tls"), env
    )
    assert set(channels) == {"console", "ops-slack", "intranet", "duty-desk"}
    assert channels["duty-desk"].sender == "desk@example.org"  # type: ignore[union-attr]
    with pytest.raises(ChannelsError, match="OPS_URL is not set"):
        configured_channels(settings(alerts_channels_file=str(path), alerts_smtp_host="mx"), {})
    path.write_text("channels:\n  x: {type: webhook, url: 'https://h.example/x', token: plain}\n")
    with pytest.raises(ChannelsError, match="do not write secrets here"):
        configured_channels(settings(alerts_channels_file=str(path)))
    path.write_text("channels:\n  desk: {type: email, to: [a@b.c]}\n")
    with pytest.raises(ChannelsError, match="NEWSWATCH_ALERTS_SMTP_HOST"):
        configured_channels(settings(alerts_channels_file=str(path)))


def test_redactor_removes_urls_paths_tokens_and_passwords() -> None:
    channels = configured_channels(
        settings(
            alerts_webhook_url=SLACK_URL,
            alerts_webhook_token="tok-123456",
            alerts_smtp_host="mx",
            alerts_smtp_username="u",
            alerts_smtp_password="hunter22",
            alerts_email_to="a@b.c",
        )
    )
    redact = Redactor.of(channels.values())
    text = f"POST {SLACK_URL} failed; path /services/T000/B000/sEcReTpAtH; Bearer tok-123456; pw hunter22"
    cleaned = redact(text)
    assert "sEcReT" not in cleaned and "tok-123456" not in cleaned and "hunter22" not in cleaned
    assert "hooks.slack.example" not in cleaned  # the whole URL goes, before its path


DOC = {
    "alert_id": "r:all:000001",
    "rule": "r",
    "group_by": None,
    "group": None,
    "count": 3,
    "threshold": 3,
    "window": "10s",
    "window_start": "2022-01-12T09:00:00.000Z",
    "window_end": "2022-01-12T09:00:10.000Z",
    "source_count": 2,
    "sources": ["A", "B"],
    "top_articles": [],
    "query": "tags:x",
    "kibana_url": "http://kibana/app/discover",
    "fired_at": "2022-01-12T09:00:10.000Z",
}


def sender_with(responses: list[int | Exception], seen: list[httpx.Request]) -> WebhookSender:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = responses.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, text="nope" if outcome >= 400 else "ok")

    channel = WebhookChannel("webhook", url=SecretStr(SLACK_URL), token=SecretStr("tok-999999"))
    return WebhookSender(channel, httpx.AsyncClient(transport=httpx.MockTransport(handle)))


async def test_webhook_retries_5xx_and_connection_errors_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    waits: list[float] = []
    failures: list[tuple[int, str, bool]] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def on_failure(attempt: int, error: str, will_retry: bool) -> None:
        failures.append((attempt, error, will_retry))

    sender = sender_with([httpx.ConnectError(f"refused {SLACK_URL}"), 503, 200], seen)
    redact = Redactor.of([sender.channel])
    outcome = await deliver(sender, DOC, DeliveryPolicy(attempts=5, backoff=0.5), redact, on_failure, sleep)
    assert outcome.status == SENT and outcome.attempts == 3
    assert waits == [0.5, 1.0]
    assert [f[0] for f in failures] == [1, 2] and all(f[2] for f in failures)
    assert "sEcReT" not in failures[0][1]
    request = seen[-1]
    assert request.headers["Authorization"] == "Bearer tok-999999"
    assert request.headers["Idempotency-Key"] == "r:all:000001"
    assert json.loads(request.content)["text"].startswith(":rotating_light: *r: 3 articles in 10s")


async def test_webhook_4xx_is_not_retried_and_5xx_gives_up_after_the_attempts() -> None:
    async def sleep(seconds: float) -> None:
        return None

    seen: list[httpx.Request] = []
    outcome = await deliver(sender_with([404], seen), DOC, DeliveryPolicy(attempts=5), Redactor(), None, sleep)
    assert outcome.status == FAILED and outcome.attempts == 1 and outcome.error == "HTTP 404: nope"
    outcome = await deliver(
        sender_with([500, 502, 503], seen), DOC, DeliveryPolicy(attempts=3), Redactor(), None, sleep
    )
    assert outcome.status == FAILED and outcome.attempts == 3 and outcome.error.startswith("HTTP 503")


def test_delivery_budget() -> None:
    assert DeliveryPolicy(attempts=3, backoff=1.0, timeout=10.0).budget() == 30.0 + 1.0 + 2.0
