"""Sending one alert through one channel, with retries: the network edge of the alerter.

Each sender raises ``DeliveryError(retryable=...)``: connection failures, timeouts, HTTP 5xx/408/429 and
SMTP 4xx are worth retrying; HTTP 4xx, SMTP 5xx and refused logins are not (retrying cannot fix a
wrong URL or password). ``deliver`` retries with exponential backoff and returns the outcome; it never
raises, so one channel's failure cannot touch another channel or the evaluation loop.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt, wait_exponential

from alerts.channels import Channel, ConsoleChannel, EmailChannel, Redactor, WebhookChannel
from alerts.document import FAILED, SENT
from alerts.notify import console_text, email_message, webhook_payload


class DeliveryError(Exception):
    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable


class Sender(Protocol):
    channel: Channel

    async def send(self, doc: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class DeliveryPolicy:
    attempts: int = 5
    backoff: float = 1.0  # seconds before the first retry; doubles per attempt
    max_backoff: float = 30.0
    timeout: float = 10.0  # one HTTP request or one SMTP session

    def budget(self) -> float:
        """Longest time one channel can take, all attempts and waits included."""
        waits = sum(min(self.max_backoff, self.backoff * 2**i) for i in range(self.attempts - 1))
        return self.attempts * self.timeout + waits


@dataclass(frozen=True)
class DeliveryOutcome:
    channel: str
    status: str  # SENT or FAILED
    attempts: int
    error: str | None = None


class ConsoleSender:
    def __init__(self, channel: ConsoleChannel, write: Callable[[str], None]) -> None:
        self.channel = channel
        self.write = write

    async def send(self, doc: Mapping[str, Any]) -> None:
        self.write(console_text(doc))


class WebhookSender:
    def __init__(self, channel: WebhookChannel, client: httpx.AsyncClient) -> None:
        self.channel = channel
        self.client = client  # its timeout and transport are the caller's (tests pass their own)

    async def send(self, doc: Mapping[str, Any]) -> None:
        # The alert id lets a receiver drop the copy a redelivery after a crash could produce.
        headers = {"Idempotency-Key": str(doc["alert_id"]), "User-Agent": "newswatch-alerts"}
        if self.channel.token is not None:
            headers["Authorization"] = f"Bearer {self.channel.token.get_secret_value()}"
        try:
            response = await self.client.post(
                self.channel.url.get_secret_value(), json=webhook_payload(doc), headers=headers
            )
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"timeout: {type(exc).__name__}", retryable=True) from exc
        except httpx.HTTPError as exc:  # connection refused, reset, DNS, protocol errors
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code < 300:
            return
        detail = f"HTTP {response.status_code}: {response.text[:200]}"
        raise DeliveryError(detail, retryable=response.status_code >= 500 or response.status_code in (408, 429))


class EmailSender:
    def __init__(self, channel: EmailChannel, timeout: float) -> None:
        self.channel = channel
        self.timeout = timeout

    async def send(self, doc: Mapping[str, Any]) -> None:
        message = email_message(doc, self.channel.sender, self.channel.recipients)
        # smtplib blocks; in a thread it cannot stall the event loop (and it has its own timeout).
        await asyncio.to_thread(self._send, message)

    def _send(self, message: Any) -> None:
        server = self.channel.server
        try:
            if server.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            with smtp:
                smtp.ehlo()
                if server.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if server.username:
                    password = server.password.get_secret_value() if server.password else ""
                    smtp.login(server.username, password)
                smtp.send_message(message, to_addrs=list(self.channel.recipients))
        except smtplib.SMTPAuthenticationError as exc:
            detail = f"SMTP login refused ({exc.smtp_code}); check the user and password"
            raise DeliveryError(detail, retryable=False) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"SMTP server does not support this: {exc}", retryable=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP refused every recipient: {sorted(exc.recipients)}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
            raise DeliveryError(f"SMTP {exc.smtp_code}: {text[:200]}", retryable=400 <= exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS handshake
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc


def build_sender(channel: Channel, client: httpx.AsyncClient, timeout: float, write: Callable[[str], None]) -> Sender:
    if isinstance(channel, WebhookChannel):
        return WebhookSender(channel, client)
    if isinstance(channel, EmailChannel):
        return EmailSender(channel, timeout)
    return ConsoleSender(channel, write)


FailureHook = Callable[[int, str, bool], Awaitable[None]]  # (attempt, redacted error, will retry)


async def deliver(
    sender: Sender,
    doc: Mapping[str, Any],
    policy: DeliveryPolicy,
    redact: Redactor,
    on_failure: FailureHook | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> DeliveryOutcome:
    """Send ``doc`` through ``sender``, retrying what is worth retrying; never raises."""
    attempts = 0
    last_error: str | None = None

    async def attempt() -> None:
        nonlocal attempts, last_error
        attempts += 1
        try:
            await sender.send(doc)
        except DeliveryError as exc:
            last_error = redact(exc.detail)
            will_retry = exc.retryable and attempts < policy.attempts
            if on_failure is not None:
                await on_failure(attempts, last_error, will_retry)
            raise
        except Exception as exc:  # a bug in a sender must not take the alerter down: record it, don't retry
            last_error = redact(f"internal error {type(exc).__name__}: {exc}")
            if on_failure is not None:
                await on_failure(attempts, last_error, False)
            raise DeliveryError(last_error, retryable=False) from exc

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.backoff, max=policy.max_backoff),
        retry=retry_if_exception(lambda exc: isinstance(exc, DeliveryError) and exc.retryable),
        sleep=sleep,
        reraise=True,
    )
    try:
        await retrying(attempt)
    except (DeliveryError, RetryError):
        return DeliveryOutcome(sender.channel.name, FAILED, attempts, last_error)
    return DeliveryOutcome(sender.channel.name, SENT, attempts)
