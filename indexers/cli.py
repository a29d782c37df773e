"""`newswatch index` (the indexer service) and `newswatch search` (what analysts type)."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from newswatch.terminal import console, out, print_error


def register(app: typer.Typer) -> None:
    app.command("index")(index_command)
    app.command("search")(search_command)


def index_command() -> None:
    """Run the indexer: news.tagged -> Elasticsearch alias `news` (several may run; partitions divide the work)."""
    from indexers.bootstrap import bootstrap_from_settings
    from indexers.service import build_indexer
    from newswatch.cli import load_settings
    from newswatch.observability import ServiceEndpoint, configure_logging
    from newswatch.topics import Topics, ensure_pipeline_topics

    settings = load_settings()
    log = configure_logging("indexer", settings.log_level, settings.log_json)
    index = bootstrap_from_settings(settings, log)
    topics = Topics(settings.topic_prefix)
    ensure_pipeline_topics(settings)
    indexer = build_indexer(settings, log, topics=topics)
    endpoint = ServiceEndpoint("127.0.0.1", settings.indexer_metrics_port, indexer.health).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: indexer.stop())
    log.info("indexer started", index=index, alias=settings.index_alias, metrics_port=endpoint.port)
    try:
        indexer.run()
    finally:
        indexer.close()
        endpoint.close()
        log.info("indexer stopped", indexed=indexer.indexed_total)


def search_command(
    query: Annotated[str, typer.Argument(help='Words, "a phrase", -exclusion, a | b')] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only articles with this tag (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles published in the last 30m, 2h, 7d ...")] = None,
    lang: Annotated[str | None, typer.Option(help="Only articles in this language (ISO 639-1).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many articles.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Full-text search of everything collected: time, source, tags, title, url and a highlighted snippet."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError, NotFoundError

    from indexers.bootstrap import detect_capabilities
    from indexers.search import SearchRequest, build_search, parse_duration, read_hits
    from newswatch.cli import load_settings
    from newswatch.clients import elasticsearch_client

    try:
        window = parse_duration(since) if since else None
    except ValueError as exc:
        print_error(f"--since: {exc}")
        raise typer.Exit(2) from exc
    settings = load_settings()
    es = elasticsearch_client(settings)
    request = SearchRequest(query=query, tags=tuple(tag or ()), since=window, lang=lang, limit=limit)
    try:
        body = build_search(request, detect_capabilities(es), datetime.now(UTC))
        response = es.search(index=settings.index_alias, **body)
    except NotFoundError as exc:
        print_error(
            f"no index `{settings.index_alias}` yet at {settings.elasticsearch_endpoint}: "
            "run the indexer (`newswatch index`) first"
        )
        raise typer.Exit(1) from exc
    except (ApiError, TransportError) as exc:
        print_error(f"search failed at {settings.elasticsearch_endpoint}: {exc}")
        raise typer.Exit(1) from exc
    finally:
        es.close()
    hits = read_hits(dict(response.body))
    total = response["hits"]["total"]["value"]
    if as_json:
        for hit in hits:
            out.print(json.dumps(hit.__dict__, ensure_ascii=False), markup=False, highlight=False, soft_wrap=True)
        return
    console.print(f"{total} matching article(s); showing {len(hits)}")
    for hit in hits:
        tags = ",".join(hit.tags) or "-"
        lang = escape(f"[{hit.lang}]")
        out.print(f"[bold]{hit.published[:16]}[/bold]  {escape(hit.source)}  [cyan]{escape(tags)}[/cyan]  {lang}")
        out.print(f"  {hit.title}", markup=False)
        out.print(f"  {hit.url}", markup=False, style="dim")
        if hit.snippet:
            out.print(f"  {hit.snippet}", markup=False)
