"""`newswatch streams`: run the Faust worker (several may run; Kafka partitions divide the work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("streams")(streams_command)


def streams_command(
    web_port: int | None = typer.Option(None, help="Port of /health and /metrics (default: the setting)."),
) -> None:
    """Run the Faust worker: news.raw -> language, tags, places, entities, stories -> news.tagged."""
    import faust

    from newswatch.cli import load_settings
    from newswatch.topics import ensure_pipeline_topics
    from streams.app import create_app

    settings = load_settings()
    use_fast_event_loop()  # before the app exists: Faust creates its loops (two threads) from the policy
    ensure_pipeline_topics(settings)
    app = create_app(settings, web_port=web_port)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()


def use_fast_event_loop() -> str:
    """uvloop as asyncio's loop when it is installed (see pyproject.toml); the name of the loop used."""
    import asyncio

    try:
        import uvloop
    except ImportError:  # Windows: no uvloop build; asyncio's own loop works, only slower
        return "asyncio"
    # What faust's `--loop uvloop` does (mode.loop.uvloop), without depending on a module's import side effect.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
