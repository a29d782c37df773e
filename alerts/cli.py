"""`newswatch alert` (the alerter) and `newswatch alerts list|test` (what a watch desk types)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from newswatch.terminal import console, out, print_error

if TYPE_CHECKING:
    from alerts.channels import Channel
    from alerts.rule import Rule
    from newswatch.settings import Settings


RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rules file (default: NEWSWATCH_ALERTS_RULES_FILE, else the shipped rules)."),
]


def source_index(settings: Settings) -> str:
    """The index or alias the rules count: NEWSWATCH_ALERTS_SOURCE, else the analysts' alias."""
    return settings.alerts_source or settings.index_alias


def register(app: typer.Typer) -> None:
    app.command("alert")(alert_command)
    alerts_app = typer.Typer(help="Recent alerts, and trying a rule against what is indexed now.", no_args_is_help=True)
    alerts_app.command("list")(list_command)
    alerts_app.command("test")(test_command)
    app.add_typer(alerts_app, name="alerts")


def _fail(message: str, code: int) -> typer.Exit:
    print_error(message)
    return typer.Exit(code)


def load_ruleset(settings: Settings, rules_path: Path | None) -> tuple[list[Rule], dict[str, Channel], str]:
    """The rules and the channels they use; exits 2 with every problem named when either is invalid."""
    from alerts.channels import ChannelsError, configured_channels
    from alerts.rule import RulesError, parse_rules
    from alerts.rules import default_rules_path

    try:
        channels = configured_channels(settings)
    except ChannelsError as exc:
        raise _fail(str(exc), 2) from exc
    path = rules_path or settings.alerts_rules_file or default_rules_path()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise _fail(f"rules file {path}: cannot read it ({exc.strerror}); check the path given to --rules", 2) from exc
    try:
        return parse_rules(text, source=str(path), channels=list(channels)), channels, str(path)
    except RulesError as exc:
        raise _fail(str(exc), 2) from exc


def alert_command(rules: RulesOption = None) -> None:
    """Run the alerter until SIGTERM or Ctrl-C (several may run: each alert is still sent once)."""
    from newswatch.cli import load_settings
    from newswatch.observability import configure_logging

    settings = load_settings()
    log = configure_logging("alerter", settings.log_level, settings.log_json)
    # httpx logs every request's URL at INFO, and a Slack-style webhook URL is a secret; the ES client
    # logs every request too (one a second here). Their warnings and errors still come through.
    for noisy in ("httpx", "httpcore", "elastic_transport"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ruleset, channels, source = load_ruleset(settings, rules)
    code = asyncio.run(_run_alerter(settings, ruleset, channels, log, source))
    if code:
        raise typer.Exit(code)


async def _run_alerter(
    settings: Settings, rules: list[Rule], channels: dict[str, Channel], log: Any, source: str
) -> int:
    import httpx

    from alerts.metrics import AlertMetrics
    from alerts.rule import RulesError
    from alerts.service import Alerter, AlerterConfig
    from alerts.store import AlertStore, StoreUnavailable
    from newswatch.clients import async_elasticsearch_client
    from newswatch.observability import ServiceEndpoint

    es = async_elasticsearch_client(settings)
    store = AlertStore(es, source=source_index(settings), alerts_index=settings.alerts_index)
    http = httpx.AsyncClient(timeout=settings.alerts_delivery_timeout, follow_redirects=False)
    endpoint = None
    try:
        try:
            await store.ensure_indices()
            problems = await store.query_problems(rules)
        except StoreUnavailable as exc:
            _fail(
                f"Elasticsearch at {settings.elasticsearch_endpoint} is unreachable ({exc}); "
                "start it (`newswatch stack up`) or set NEWSWATCH_ELASTICSEARCH_URL",
                1,
            )
            return 1
        if problems:
            _fail(str(RulesError(source, problems)), 2)
            return 2
        metrics = AlertMetrics()
        config = AlerterConfig.from_settings(settings)
        alerter = Alerter(
            rules=rules, channels=channels, store=store, http=http, log=log, config=config, metrics=metrics
        )
        await alerter.start()
        endpoint = ServiceEndpoint("127.0.0.1", settings.alerts_metrics_port, alerter.health, metrics.registry).start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, alerter.stop)
        used = sorted({name for rule in rules for name in rule.channels})
        log.info(
            "alerter started",
            rules=[rule.name for rule in rules],
            channels={name: channels[name].target for name in used},
            source=source_index(settings),
            alerts_index=settings.alerts_index,
            interval=settings.alerts_interval,
            instance=alerter.instance,
            metrics_port=endpoint.port,
        )
        await alerter.run()
        log.info("alerter stopped", instance=alerter.instance)
        return 0
    finally:
        if endpoint is not None:
            endpoint.close()
        await http.aclose()
        await es.close()


def list_command(
    since: Annotated[str, typer.Option(help="Alerts fired in the last 30m, 24h, 7d ...")] = "24h",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many alerts at most.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show recent alerts: when, rule, group, count, and how each channel's delivery went."""
    from alerts.rule import parse_duration
    from alerts.service import utc_now
    from alerts.store import AlertStore, StoreUnavailable
    from newswatch.cli import load_settings
    from newswatch.clients import async_elasticsearch_client

    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise _fail(f"--since: {exc}", 2) from exc
    settings = load_settings()

    async def fetch() -> list[dict[str, Any]]:
        es = async_elasticsearch_client(settings)
        try:
            store = AlertStore(es, source=source_index(settings), alerts_index=settings.alerts_index)
            return await store.recent_alerts(int(utc_now().timestamp() * 1000) - seconds * 1000, limit)
        finally:
            await es.close()

    try:
        alerts = asyncio.run(fetch())
    except StoreUnavailable as exc:
        raise _fail(f"Elasticsearch at {settings.elasticsearch_endpoint} is unreachable: {exc}", 1) from exc
    if as_json:
        for alert in alerts:
            line = json.dumps(alert, ensure_ascii=False)
            out.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)
        return
    console.print(f"{len(alerts)} alert(s) in the last {since}")
    table = Table("fired (UTC)", "rule", "group", "count", "window", "deliveries", "id")
    for alert in alerts:
        deliveries = alert.get("deliveries") or {}
        cells = (
            alert["fired_at"][:19].replace("T", " "),
            alert["rule"],
            str(alert.get("group") or "-"),
            f"{alert['count']}/{alert['threshold']}",
            alert["window"],
            " ".join(f"{name}:{entry.get('status')}" for name, entry in sorted(deliveries.items())),
            alert["alert_id"],
        )
        table.add_row(*(escape(cell) for cell in cells))
    out.print(table)


def test_command(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The name of the rule to try.")],
    rules: RulesOption = None,
) -> None:
    """Evaluate one rule against what is indexed now and print what it would send — without sending."""
    from newswatch.cli import load_settings

    settings = load_settings()
    ruleset, _, _ = load_ruleset(settings, rules)
    rule = next((r for r in ruleset if r.name == rule_name), None)
    if rule is None:
        raise _fail(f"no rule {rule_name!r}; the rules are: {', '.join(r.name for r in ruleset)}", 2)
    from alerts.preview import preview_rule
    from alerts.store import StoreUnavailable

    try:
        report = asyncio.run(preview_rule(settings, rule))
    except StoreUnavailable as exc:
        raise _fail(f"Elasticsearch at {settings.elasticsearch_endpoint} is unreachable: {exc}", 1) from exc
    out.print(report, markup=False, highlight=False, soft_wrap=True, emoji=False)
