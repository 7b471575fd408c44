"""Nothing is left behind when a watch exits, however it exits: no subscription on the
server, no entry in the bus, no listener; and nothing when the bus closes."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest
import redis

from abortkit.fleet import RedisStopBus
from abortkit.fleet._engine import Engine

from ._support import HANG, fleet_connections, numsub, wait_until

Bus = Callable[..., RedisStopBus]


def _engine(bus: RedisStopBus) -> Engine:
    return bus._started().engine


def _assert_nothing_left(bus: RedisStopBus, client: redis.Redis, stream_id: str) -> None:
    assert numsub(client, f"abortkit:stop:{stream_id}") == 0  # unsubscribed before exit returned
    engine = _engine(bus)
    assert bus.watch_count == 0 and engine.channel_count == 0 and not engine.has_work


def test_exit_after_an_abort_and_after_none(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus, stopper = make_bus(), make_bus()
    for stopped in (True, False):
        watch = bus.watch("tidy")
        with watch as signal:
            assert numsub(redis_client, "abortkit:stop:tidy") == 1
            if stopped:
                stopper.stop("tidy")
                wait_until(lambda: signal.aborted, "the stop")
        assert signal.listener_count == 0
        _assert_nothing_left(bus, redis_client, "tidy")
        redis_client.delete("abortkit:stop:tidy")
        stopper.close()
        stopper = make_bus()


def test_an_exception_in_the_block_passes_and_the_watch_is_gone(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus = make_bus()
    with pytest.raises(KeyError), bus.watch("raises"):
        raise KeyError("from the block")
    _assert_nothing_left(bus, redis_client, "raises")


def test_async_exit_and_a_cancelled_entry_leave_nothing(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus = make_bus()
    release = threading.Event()
    reached = threading.Event()

    def hold(channels: list[str]) -> None:  # the bus thread stops before the SUBSCRIBE
        reached.set()
        release.wait(HANG)

    async def main() -> None:
        async with bus.watch("async-tidy"):
            pass
        _assert_nothing_left(bus, redis_client, "async-tidy")
        _engine(bus).hooks["subscribe"] = hold
        entering = asyncio.ensure_future(bus.watch("cancelled").__aenter__())
        await asyncio.to_thread(reached.wait, HANG)
        entering.cancel()
        with pytest.raises(asyncio.CancelledError):
            await entering
        release.set()

    asyncio.run(main())
    wait_until(lambda: bus.watch_count == 0 and _engine(bus).channel_count == 0, "the cancelled watch to go")
    wait_until(lambda: numsub(redis_client, "abortkit:stop:cancelled") == 0, "its subscription to go")


def test_close_ends_the_thread_and_the_connections(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus = make_bus()
    with bus.watch("closing"):
        pass
    assert fleet_connections(redis_client)[("sub", os.getpid())] == 1
    bus.close()
    assert not [t for t in threading.enumerate() if t.name == "abortkit-fleet"]
    wait_until(lambda: not fleet_connections(redis_client), "the server to see both connections go")
