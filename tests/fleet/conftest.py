"""Fixtures of the stop-bus tests: a real ``redis-server`` on a free loopback port (fresh
for each test, so that killing it harms no other test), buses that are closed after
the test, and worker processes. A missing ``redis-server`` fails the tests, it never
skips them: ``.ci/run`` installs it (Debian's ``redis-server`` package)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from abortkit.fleet import RedisStopBus
from abortkit.testing import RedisServer

from ._support import HANG, wait_until
from ._worker import Worker


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (.ci/run installs it)")
    with server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain redis-py client for looking at the server (its own connection, unnamed)."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def make_bus(redis_server: RedisServer) -> Iterator[Callable[..., RedisStopBus]]:
    """``make_bus(**options)``: a bus on the test's server (``url=`` to go elsewhere)."""
    buses: list[RedisStopBus] = []

    def make(**options: Any) -> RedisStopBus:
        bus = RedisStopBus(options.pop("url", redis_server.url), **options)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.close(timeout=0)
    wait_until(lambda: not _bus_threads(), "every bus thread to end", HANG)


@pytest.fixture
def make_worker(redis_server: RedisServer) -> Iterator[Callable[..., Worker]]:
    """``make_worker(**bus_options)``: a separate process with its own bus."""
    workers: list[Worker] = []

    def make(**options: Any) -> Worker:
        worker = Worker(options.pop("url", redis_server.url), **options)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


def _bus_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "abortkit-fleet"]
