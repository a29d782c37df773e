import asyncio

import uvloop

from streams.cli import use_fast_event_loop


def test_the_worker_runs_on_uvloop_where_it_is_installed() -> None:
    before = asyncio.get_event_loop_policy()
    try:
        assert use_fast_event_loop() == "uvloop"
        loop = asyncio.new_event_loop()  # what Faust's threads do
        try:
            assert isinstance(loop, uvloop.Loop)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(before)
