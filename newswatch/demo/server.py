"""The local demo feed server: serves the bundled feeds, releasing their items progressively.

Routes (all GET, HEAD too):

- ``/feeds/<file>``  the feed as RSS 2.0 or Atom, with only the items released so far
  (see ``release.py``); ETag and Last-Modified on every answer, 304 for a matching
  If-None-Match or an If-Modified-Since not older than the content.
- ``/feeds.yaml``    the demo feeds file rendered for this server's base URL.
- ``/``              a plain-text index: feeds, items visible / total, seconds since start.

Time comes from an injected monotonic ``clock`` so tests can move it without sleeping; a wall clock
is read once at start, only to turn release offsets into Last-Modified dates.

Manual run: ``python -m newswatch.demo.server --port 8765 [--write-feeds FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from newswatch.demo.catalogue import DemoFeed, DemoItem, all_items, load_demo_feeds
from newswatch.demo.feeds_file import render_feeds_file, write_feeds_file
from newswatch.demo.livedates import live_shifts, shift_item_dates
from newswatch.demo.release import DEFAULT_PLAN, ReleasePlan, release_schedule

Clock = Callable[[], float]


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    etag: str  # quoted, strong
    last_modified: int  # Unix seconds
    visible: int


def _etag_matches(if_none_match: str, etag: str) -> bool:
    # Weak comparison, as RFC 9110 prescribes for If-None-Match.
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return any(candidate == "*" or candidate.removeprefix("W/") == etag for candidate in candidates)


def _not_modified_since(if_modified_since: str, last_modified: int) -> bool:
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an unparsable date is ignored, as if absent
    if since.tzinfo is None:
        return False
    return last_modified <= since.timestamp()


def is_not_modified(request_headers: Mapping[str, str], rendered: RenderedFeed) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides when present; If-Modified-Since only otherwise."""
    if_none_match = request_headers.get("If-None-Match")
    if if_none_match is not None:
        return _etag_matches(if_none_match, rendered.etag)
    if_modified_since = request_headers.get("If-Modified-Since")
    if if_modified_since is not None:
        return _not_modified_since(if_modified_since, rendered.last_modified)
    return False


@dataclass
class DemoFeedsState:
    """The feeds, their release schedule and the start instant; renders a feed as of now."""

    feeds: dict[str, DemoFeed]
    schedule: dict[str, int]
    clock: Clock
    started: float  # clock() at start
    started_wall: int  # whole Unix seconds at start
    base_url: str = ""  # set once the server is listening (the port may be picked by the OS)
    shifts: dict[str, timedelta] = field(default_factory=dict)  # live mode: uid -> how far to move its dates
    hits: Counter[tuple[str, int]] = field(default_factory=Counter)  # (feed file, status) -> count

    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started)

    def _rewrite(self, item: DemoItem) -> str:
        shift = self.shifts.get(item.uid)
        return shift_item_dates(item.raw, shift) if shift is not None else item.raw

    def render(self, filename: str) -> RenderedFeed:
        feed = self.feeds[filename]
        elapsed = self.elapsed()
        offsets = {item.uid: self.schedule[item.uid] for item in feed.items}
        visible = {uid for uid, offset in offsets.items() if offset <= elapsed}
        body = feed.render(visible, self._rewrite if self.shifts else None)
        newest_release = max((offsets[uid] for uid in visible), default=0)
        return RenderedFeed(
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            # Whole-second offsets make this strictly increase whenever the content changes.
            last_modified=self.started_wall + newest_release,
            visible=len(visible),
        )


async def _feed_handler(request: web.Request) -> web.StreamResponse:
    state: DemoFeedsState = request.app[STATE_KEY]
    filename = request.match_info["filename"]
    if filename not in state.feeds:
        state.hits[(filename, 404)] += 1
        raise web.HTTPNotFound(text=f"no demo feed named {filename!r}\n")
    rendered = state.render(filename)
    headers = {
        "ETag": rendered.etag,
        "Last-Modified": formatdate(rendered.last_modified, usegmt=True),
        "Cache-Control": "no-cache",
    }
    if is_not_modified(request.headers, rendered):
        state.hits[(filename, 304)] += 1
        return web.Response(status=304, headers=headers)
    state.hits[(filename, 200)] += 1
    headers["Content-Type"] = state.feeds[filename].content_type
    return web.Response(body=rendered.body, headers=headers)


async def _feeds_file_handler(request: web.Request) -> web.Response:
    state: DemoFeedsState = request.app[STATE_KEY]
    return web.Response(text=render_feeds_file(state.base_url), content_type="application/yaml", charset="utf-8")


async def _index_handler(request: web.Request) -> web.Response:
    state: DemoFeedsState = request.app[STATE_KEY]
    base_url = state.base_url
    lines = [f"newswatch demo feed server, {state.elapsed():.0f} s since start", ""]
    for filename, feed in state.feeds.items():
        visible = state.render(filename).visible
        lines.append(f"{base_url}/feeds/{filename}  {visible}/{len(feed.items)} items")
    lines += ["", f"feeds file: {base_url}/feeds.yaml", ""]
    return web.Response(text="\n".join(lines))


STATE_KEY = web.AppKey("demo_state", DemoFeedsState)


@dataclass
class DemoServer:
    """A running demo server. ``close()`` (or ``async with``) stops it."""

    base_url: str
    state: DemoFeedsState
    _runner: web.AppRunner

    @property
    def feed_names(self) -> list[str]:
        return list(self.state.feeds)

    def feed_url(self, filename: str) -> str:
        return f"{self.base_url}/feeds/{filename}"

    def feeds_file(self) -> str:
        """The demo feeds file pointing at this server."""
        return render_feeds_file(self.base_url)

    def elapsed(self) -> float:
        return self.state.elapsed()

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> DemoServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_demo_server(
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.monotonic,
    *,
    wall_clock: Clock = time.time,
    plan: ReleasePlan = DEFAULT_PLAN,
    feeds: Sequence[DemoFeed] | None = None,
    live_dates: bool = False,
) -> DemoServer:
    """Start serving the demo feeds on ``host:port`` (0 = a free port); the release clock starts now.

    ``live_dates`` stamps each item with the moment it is released (see ``newswatch.demo.livedates``).
    """
    demo_feeds = tuple(feeds) if feeds is not None else load_demo_feeds()
    items = all_items(demo_feeds)
    schedule = release_schedule(items, plan)
    started_wall = math.floor(wall_clock())
    state = DemoFeedsState(
        feeds={feed.filename: feed for feed in demo_feeds},
        schedule=schedule,
        clock=clock,
        started=clock(),
        started_wall=started_wall,
        shifts=live_shifts(items, schedule, datetime.fromtimestamp(started_wall, UTC)) if live_dates else {},
    )
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get("/", _index_handler)
    app.router.add_get("/feeds.yaml", _feeds_file_handler)
    app.router.add_get("/feeds/{filename}", _feed_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    state.base_url = f"http://{url_host}:{bound_port}"
    return DemoServer(base_url=state.base_url, state=state, _runner=runner)


async def _serve_until_stopped(host: str, port: int, feeds_path: Path | None, live_dates: bool) -> None:
    server = await start_demo_server(host, port, live_dates=live_dates)
    try:
        print(f"demo feeds served at {server.base_url}/ (Ctrl-C to stop)")
        print(f"feeds file: {server.base_url}/feeds.yaml")
        if feeds_path is not None:
            write_feeds_file(server.base_url, feeds_path)
            print(f"feeds file written to {feeds_path}")
        print(f"all items released after {DEFAULT_PLAN.duration} s")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m newswatch.demo.server", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--write-feeds", type=Path, metavar="FILE", help="also write the rendered feeds file here")
    parser.add_argument(
        "--live-dates", action="store_true", help="stamp each item with the moment it is released (for alerts)"
    )
    args = parser.parse_args(argv)
    asyncio.run(_serve_until_stopped(args.host, args.port, args.write_feeds, args.live_dates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
