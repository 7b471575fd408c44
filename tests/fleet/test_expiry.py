"""Stored stops expire after the bus's ``ttl``: in Redis (``PX``), in the issuing
process's memory, and in its outbox when Redis stayed away longer than the ttl."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from abortkit.fleet import RedisStopBus
from abortkit.testing import RedisServer

from ._support import HANG, wait_until

Bus = Callable[..., RedisStopBus]


def test_a_stored_stop_expires_after_the_ttl(make_bus: Bus, redis_client: redis.Redis) -> None:
    stopper = make_bus(ttl=0.3)
    assert stopper.stop("short-lived", "soon gone") is True
    assert 0 < redis_client.pttl("abortkit:stop:short-lived") <= 300
    wait_until(lambda: redis_client.exists("abortkit:stop:short-lived") == 0, "Redis to expire the key")
    for bus in (make_bus(), stopper):  # neither Redis nor the issuing process remembers it
        watch = bus.watch("short-lived")
        with watch as signal:
            assert watch.armed and not signal.aborted


def test_a_stop_queued_longer_than_the_ttl_is_dropped(make_bus: Bus, redis_server: RedisServer) -> None:
    stopper = make_bus(ttl=0.3, reconnect_max_delay=0.05)
    assert stopper.stop("warm-up") is True
    redis_server.kill()
    outcome: list[bool] = []
    waiting = threading.Thread(target=lambda: outcome.append(stopper.stop("too-late", timeout=None)))
    waiting.start()
    waiting.join(0.6)  # the ttl passes while Redis is away
    assert outcome == []
    redis_server.start()
    waiting.join(HANG)
    assert outcome == [False]  # dropped, and the caller is told
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.exists("abortkit:stop:too-late") == 0
    finally:
        client.close()
    watch = make_bus().watch("too-late")
    with watch as signal:
        assert watch.armed and not signal.aborted
