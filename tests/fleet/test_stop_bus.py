"""``RedisStopBus`` end to end on a real Redis: a stop on one bus aborts the watch on
another, sync and async, with the reason it was given and a ``StopRequested`` type."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable

import pytest
import redis

from abortkit import AbortError
from abortkit.fleet import RedisStopBus, StopRequested
from abortkit.testing import RedisServer

from ._support import HANG, numsub, wait_until

Bus = Callable[..., RedisStopBus]


def test_a_stop_on_one_bus_aborts_the_watch_on_another(make_bus: Bus) -> None:
    watcher, stopper = make_bus(), make_bus()
    with watcher.watch("chat-1") as signal:
        assert not signal.aborted
        assert stopper.stop("chat-1", "user pressed Stop") is True
        wait_until(lambda: signal.aborted, "the watch to abort")
        reason = signal.reason
        assert isinstance(reason, StopRequested)
        assert (reason.stream_id, reason.reason) == ("chat-1", "user pressed Stop")
        assert reason.issued_at is not None
        with pytest.raises(AbortError) as caught:
            signal.throw_if_aborted()
        assert caught.value.reason is reason
        assert str(reason) == "stream 'chat-1' was stopped: 'user pressed Stop'"


def test_async_watch_and_astop(make_bus: Bus) -> None:
    watcher, stopper = make_bus(), make_bus()

    async def main() -> StopRequested:
        async with watcher.watch("chat-2") as signal:
            aborted = asyncio.Event()
            loop = asyncio.get_running_loop()
            signal.add_listener(lambda: loop.call_soon_threadsafe(aborted.set))
            assert await stopper.astop("chat-2", {"by": "user", "turn": 3}) is True
            await asyncio.wait_for(aborted.wait(), HANG)
            reason = signal.reason
            assert isinstance(reason, StopRequested)
            return reason

    reason = asyncio.run(main())
    assert reason.reason == {"by": "user", "turn": 3}
    assert watcher.watch_count == 0


def test_a_stop_in_the_same_process_needs_no_redis(make_bus: Bus, redis_server: RedisServer) -> None:
    bus = make_bus()
    with bus.watch("local") as signal:
        redis_server.kill()
        assert bus.stop("local", "esc", timeout=0) is False  # Redis is gone: queued
        wait_until(lambda: signal.aborted, "the local abort")
        assert signal.reason.reason == "esc"


def test_the_stop_is_stored_as_json_with_the_ttl(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus = make_bus(ttl=30)
    assert bus.stop("stored", {"why": "budget"}) is True
    payload = redis_client.get("abortkit:stop:stored")
    assert payload is not None
    assert json.loads(payload)["reason"] == {"why": "budget"}
    assert 0 < redis_client.pttl("abortkit:stop:stored") <= 30_000


def test_every_watch_of_a_stream_aborts_through_one_subscription(make_bus: Bus, redis_client: redis.Redis) -> None:
    watcher, stopper = make_bus(), make_bus()
    with watcher.watch("shared") as first, watcher.watch("shared") as second:
        assert numsub(redis_client, "abortkit:stop:shared") == 1
        stopper.stop("shared", "both")
        wait_until(lambda: first.aborted and second.aborted, "both watches to abort")
        assert first.reason.reason == second.reason.reason == "both"


def test_the_first_reason_wins(make_bus: Bus, redis_client: redis.Redis) -> None:
    first_stopper, second_stopper, watcher = make_bus(), make_bus(), make_bus()
    assert first_stopper.stop("twice", "first") is True
    assert second_stopper.stop("twice", "second") is True
    assert first_stopper.stop("twice", "third") is True  # the same bus again: its first stop stands
    assert json.loads(redis_client.get("abortkit:stop:twice") or b"")["reason"] == "first"
    with watcher.watch("twice") as signal:
        assert signal.aborted and signal.reason.reason == "first"


def test_a_listener_on_the_bus_thread_may_stop_and_leave_without_deadlock(make_bus: Bus) -> None:
    watcher, stopper = make_bus(), make_bus()
    results: list[object] = []
    chained = watcher.watch("chained")
    first = watcher.watch("first")
    done = threading.Event()
    with chained as chained_signal:
        signal = first.__enter__()

        def on_abort() -> None:  # runs on the bus's thread
            results.append(watcher.stop("chained", "cascade"))  # must not wait for its own thread
            first.__exit__(None, None, None)
            done.set()

        signal.add_listener(on_abort)
        stopper.stop("first")
        assert done.wait(HANG)
        wait_until(lambda: chained_signal.aborted, "the cascaded stop")
    assert results == [False]
    wait_until(lambda: watcher.watch_count == 0, "both watches gone")


def test_a_watch_is_entered_once_and_a_closed_bus_refuses_work(make_bus: Bus) -> None:
    bus = make_bus()
    watch = bus.watch("once")
    with watch:
        pass
    with pytest.raises(RuntimeError, match="only once"), watch:
        pass
    bus.close()
    bus.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        bus.stop("x")
    with pytest.raises(RuntimeError, match="closed"), bus.watch("x"):
        pass


def test_a_watch_outliving_its_bus_exits_quietly(make_bus: Bus) -> None:
    bus = make_bus()
    watch = bus.watch("outlives")
    signal = watch.__enter__()
    bus.close()
    watch.__exit__(None, None, None)
    assert not signal.aborted


def test_repr_masks_the_password() -> None:
    bus = RedisStopBus("redis://user:s3cret@127.0.0.1:1/0")
    assert "s3cret" not in repr(bus) and "s3cret" not in bus.url
    assert "***" in bus.url
