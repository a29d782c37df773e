"""Where alerts go: the configured channels, their secrets, and how to mention them without leaking.

Channels by name:
- ``console``: always; every alert is printed on the alerter's standard output.
- ``webhook``: from NEWSWATCH_ALERTS_WEBHOOK_URL (+ optional bearer token).
- ``email``: from NEWSWATCH_ALERTS_SMTP_HOST and NEWSWATCH_ALERTS_EMAIL_TO.
- more, from the YAML file NEWSWATCH_ALERTS_CHANNELS_FILE::

      channels:
        ops-slack:
          type: webhook
          url_env: OPS_SLACK_WEBHOOK_URL     # or url_file: /run/secrets/ops-slack, or url: (if not secret)
          token_env: OPS_SLACK_TOKEN         # optional; or token_file
        duty-desk:
          type: email
          to: [duty@example.org]             # the SMTP server is the one from the settings
          from: alerts@example.org           # optional

Secrets (webhook URLs, which for Slack carry the token; tokens; the SMTP password) are ``SecretStr``
from the environment or files; ``Redactor`` scrubs them from any error text before it is logged or
stored, and ``target`` names a channel's destination by host only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import SecretStr

from alerts.rule import CONSOLE
from newswatch.settings import Settings

_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ChannelsError(ValueError):
    """The channel configuration cannot be used; the message names the setting or entry and the fix."""


@dataclass(frozen=True)
class ConsoleChannel:
    name: str = CONSOLE

    @property
    def target(self) -> str:
        return "stdout"


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    url: SecretStr
    token: SecretStr | None = None

    @property
    def target(self) -> str:
        parts = urlsplit(self.url.get_secret_value())
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    username: str | None = None
    password: SecretStr | None = None


@dataclass(frozen=True)
class EmailChannel:
    name: str
    server: SmtpServer
    sender: str
    recipients: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"smtp://{self.server.host}:{self.server.port} to {', '.join(self.recipients)}"


Channel = ConsoleChannel | WebhookChannel | EmailChannel


def read_secret(value: SecretStr | None, file: Path | None, variable: str) -> SecretStr | None:
    """A secret from its variable or from the file its ``_FILE`` variable names (one of the two)."""
    if value is not None and file is not None:
        raise ChannelsError(f"{variable} and {variable}_FILE are both set: keep one")
    if file is None:
        return value
    try:
        text = Path(file).read_text().strip()
    except OSError as exc:
        raise ChannelsError(f"{variable}_FILE={file}: cannot read it ({exc.strerror}); fix the path") from exc
    if not text:
        raise ChannelsError(f"{variable}_FILE={file}: the file is empty")
    return SecretStr(text)


def _recipients(value: object, where: str) -> tuple[str, ...]:
    items = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and "@" in i for i in items if i):
        raise ChannelsError(f"{where}: expected e-mail addresses, e.g. duty@example.org")
    return tuple(i for i in items if i)


def _check_webhook_url(url: SecretStr, where: str) -> SecretStr:
    parts = urlsplit(url.get_secret_value())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelsError(f"{where}: not an http(s) URL (the value is secret and not shown)")
    return url


def configured_channels(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """Every usable channel by name, from the settings and the channels file."""
    env = os.environ if environ is None else environ
    channels: dict[str, Channel] = {CONSOLE: ConsoleChannel()}
    url = read_secret(settings.alerts_webhook_url, settings.alerts_webhook_url_file, "NEWSWATCH_ALERTS_WEBHOOK_URL")
    token = read_secret(
        settings.alerts_webhook_token, settings.alerts_webhook_token_file, "NEWSWATCH_ALERTS_WEBHOOK_TOKEN"
    )
    if url is not None:
        channels["webhook"] = WebhookChannel("webhook", _check_webhook_url(url, "NEWSWATCH_ALERTS_WEBHOOK_URL"), token)
    server = smtp_server(settings)
    if server is not None and settings.alerts_email_to:
        recipients = _recipients(settings.alerts_email_to, "NEWSWATCH_ALERTS_EMAIL_TO")
        channels["email"] = EmailChannel("email", server, settings.alerts_email_from, recipients)
    if settings.alerts_channels_file is not None:
        for channel in _channels_file(settings.alerts_channels_file, server, settings.alerts_email_from, env):
            if channel.name in channels:
                raise ChannelsError(f"{settings.alerts_channels_file}: channel {channel.name!r} is defined twice")
            channels[channel.name] = channel
    return channels


def smtp_server(settings: Settings) -> SmtpServer | None:
    if not settings.alerts_smtp_host:
        return None
    password = read_secret(
        settings.alerts_smtp_password, settings.alerts_smtp_password_file, "NEWSWATCH_ALERTS_SMTP_PASSWORD"
    )
    if password is not None and not settings.alerts_smtp_username:
        raise ChannelsError("NEWSWATCH_ALERTS_SMTP_PASSWORD is set without NEWSWATCH_ALERTS_SMTP_USERNAME")
    return SmtpServer(
        settings.alerts_smtp_host,
        settings.alerts_smtp_port,
        settings.alerts_smtp_security,
        settings.alerts_smtp_username,
        password,
    )


def _channels_file(path: Path, server: SmtpServer | None, sender: str, env: Mapping[str, str]) -> list[Channel]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ChannelsError(f"NEWSWATCH_ALERTS_CHANNELS_FILE={path}: cannot read it ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ChannelsError(f"{path}: not valid YAML: {exc}") from exc
    entries = data.get("channels") if isinstance(data, Mapping) else None
    if not isinstance(entries, Mapping):
        raise ChannelsError(f"{path}: expected `channels:` mapping names to channel definitions")
    return [_channel_entry(str(name), spec, path, server, sender, env) for name, spec in entries.items()]


def _channel_entry(
    name: str, spec: Any, path: Path, server: SmtpServer | None, sender: str, env: Mapping[str, str]
) -> Channel:
    where = f"{path}: channel {name!r}"
    if not _CHANNEL_NAME.match(name) or name == CONSOLE:
        raise ChannelsError(f"{where}: names are lowercase letters, digits, '-' and '_' (and not 'console')")
    if not isinstance(spec, Mapping) or spec.get("type") not in ("webhook", "email"):
        raise ChannelsError(f"{where}: type: expected webhook or email")
    if spec["type"] == "email":
        if server is None:
            raise ChannelsError(f"{where}: e-mail channels need the SMTP server: set NEWSWATCH_ALERTS_SMTP_HOST")
        return EmailChannel(name, server, str(spec.get("from", sender)), _recipients(spec.get("to"), f"{where}: to"))
    if "token" in spec:
        raise ChannelsError(f"{where}: token: do not write secrets here; use token_env or token_file")
    url = _secret_entry(spec, "url", where, env)
    if url is None:
        raise ChannelsError(f"{where}: url: required (url_env, url_file or url)")
    return WebhookChannel(name, _check_webhook_url(url, f"{where}: url"), _secret_entry(spec, "token", where, env))


def _secret_entry(spec: Mapping[str, Any], key: str, where: str, env: Mapping[str, str]) -> SecretStr | None:
    if f"{key}_env" in spec:
        variable = str(spec[f"{key}_env"])
        if not env.get(variable):
            raise ChannelsError(f"{where}: {key}_env: the variable {variable} is not set")
        return SecretStr(env[variable])
    if f"{key}_file" in spec:
        return read_secret(None, Path(str(spec[f"{key}_file"])), f"{where}: {key}")
    return SecretStr(str(spec[key])) if key in spec else None


@dataclass(frozen=True)
class Redactor:
    """Replaces every secret (and a webhook URL's path, which is its secret part) with ``***``."""

    secrets: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, channels: Iterable[Channel]) -> Redactor:
        found: list[str] = []
        for channel in channels:
            if isinstance(channel, WebhookChannel):
                url = channel.url.get_secret_value()
                parts = urlsplit(url)
                found += [url, parts.path + (f"?{parts.query}" if parts.query else "")]
                if channel.token is not None:
                    found.append(channel.token.get_secret_value())
            elif isinstance(channel, EmailChannel) and channel.server.password is not None:
                found.append(channel.server.password.get_secret_value())
        # Longest first, so a URL is replaced whole before its path; very short strings ("/") are not secrets.
        return cls(tuple(sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text
