"""A stop issued while Redis is down, or while the watcher is cut off and reconnecting,
takes effect once the connection is back: within ``reconnect_max_delay`` plus a few
round trips (the bound is ``HANG`` here, to catch a hang only; the benchmark measures).
Redis is really killed (``SIGKILL``: every key lost) and restarted on the same port; a
watcher alone is cut off through a TCP forwarder."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from abortkit.fleet import RedisStopBus
from abortkit.testing import RedisServer

from ._forwarder import Forwarder
from ._support import HANG, wait_until
from ._worker import Worker

Bus = Callable[..., RedisStopBus]
FAST = {"reconnect_max_delay": 0.2}


def test_a_stop_issued_while_redis_is_down_takes_effect_when_it_is_back(
    redis_server: RedisServer, make_worker: Callable[..., Worker], redis_client: redis.Redis
) -> None:
    watcher, stopper = make_worker(**FAST), make_worker(**FAST)
    assert watcher.watch(["down-1", "down-2"]) == [True, True]
    assert stopper.stop("warm-up") is True  # the stopper is connected too
    redis_server.kill()
    assert stopper.stop("down-1", "while down", timeout=0.2) is False  # queued in the stopper
    assert watcher.aborted(["down-1"]) == {}
    redis_server.start()
    back = time.monotonic()
    assert watcher.wait_aborted(["down-1"]) == {"down-1": ("while down", "down-1")}
    assert time.monotonic() - back < HANG
    assert redis_client.get("abortkit:stop:down-1") is not None  # stored on the new Redis
    assert watcher.aborted(["down-2"]) == {}


def test_a_watch_started_while_redis_is_down_is_armed_when_it_is_back(
    redis_server: RedisServer, make_worker: Callable[..., Worker]
) -> None:
    watcher, stopper = make_worker(**FAST), make_worker(**FAST)
    assert watcher.watch(["before"]) == [True]
    redis_server.kill()
    wait_until(lambda: not watcher.connected(), "the watcher to notice")
    assert watcher.watch(["during"]) == [False]  # entered at once, not armed yet
    redis_server.start()
    assert stopper.stop("during", "from outside") is True
    assert watcher.wait_aborted(["during"]) == {"during": ("from outside", "during")}


def test_a_stop_issued_while_the_watcher_is_cut_off(
    redis_server: RedisServer, make_bus: Bus, make_worker: Callable[..., Worker]
) -> None:
    with Forwarder(redis_server.port) as link:
        watcher = make_bus(url=link.url, **FAST)
        stopper = make_worker(**FAST)
        with watcher.watch("cut") as signal:
            link.refuse()  # the watcher alone loses Redis, and cannot reconnect
            wait_until(lambda: not watcher.connected, "the watcher to notice")
            assert stopper.stop("cut", "while reconnecting") is True  # Redis itself is fine
            assert not signal.aborted
            link.open()
            wait_until(lambda: signal.aborted, "the re-check after reconnecting")
            assert signal.reason.reason == "while reconnecting"


def test_a_silent_split_is_noticed_by_the_heartbeat(
    redis_server: RedisServer, make_bus: Bus, make_worker: Callable[..., Worker]
) -> None:
    with Forwarder(redis_server.port) as link:
        watcher = make_bus(url=link.url, heartbeat=0.2, connect_timeout=0.3, io_timeout=0.5, **FAST)
        stopper = make_worker(**FAST)
        with watcher.watch("silent") as signal:
            link.blackhole()  # no reset, no FIN: bytes just stop
            assert stopper.stop("silent", "unheard") is True
            wait_until(lambda: not watcher.connected, "the heartbeat to give up on the connection")
            assert not signal.aborted
            link.open()
            wait_until(lambda: signal.aborted, "the re-check after reconnecting")
            assert signal.reason.reason == "unheard"


def test_a_restart_that_lost_every_key_loses_no_stop(
    redis_server: RedisServer, make_worker: Callable[..., Worker], redis_client: redis.Redis
) -> None:
    """Delivered, then Redis crashed without persistence: the stopper writes its recent
    stops again after reconnecting, so a watch that starts after the restart still stops."""
    stopper = make_worker(**FAST)
    assert stopper.stop("crash", "before the crash") is True
    redis_server.restart()
    assert redis_client.get("abortkit:stop:crash") is None  # really gone
    watcher = make_worker(**FAST)
    watcher.watch(["crash"])
    assert watcher.wait_aborted(["crash"]) == {"crash": ("before the crash", "crash")}
    wait_until(lambda: redis_client.get("abortkit:stop:crash") is not None, "the replayed key")


def test_redis_restarted_under_live_watches_in_several_processes(
    redis_server: RedisServer, make_worker: Callable[..., Worker]
) -> None:
    watchers = [make_worker(**FAST) for _ in range(3)]
    stopper = make_worker(**FAST)
    ids = {w.pid: [f"live-{w.pid}-{n}" for n in range(20)] for w in watchers}
    for worker in watchers:
        worker.watch(ids[worker.pid][:10], mode="sync")
        worker.watch(ids[worker.pid][10:], mode="async")
    redis_server.restart()
    for worker in watchers:  # half stopped whatever the state of each connection
        for stream_id in ids[worker.pid][::2]:
            stopper.stop(stream_id, "after restart", timeout=None)
    for worker in watchers:
        stopped = ids[worker.pid][::2]
        assert set(worker.wait_aborted(stopped)) == set(stopped)
        assert worker.aborted(ids[worker.pid][1::2]) == {}
