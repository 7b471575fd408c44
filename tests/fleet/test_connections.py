"""One subscriber connection per process for all its watches (channel subscriptions
reference counted on it), and one command connection, whatever the number of
watches or stops; counted on the server with ``CLIENT LIST``."""

from __future__ import annotations

import os
from collections.abc import Callable

import redis

from abortkit.fleet import RedisStopBus

from ._support import fleet_connections, subscriptions, wait_until
from ._worker import Worker

Bus = Callable[..., RedisStopBus]


def test_five_hundred_watches_share_one_subscriber_connection(
    make_bus: Bus, make_worker: Callable[..., Worker], redis_client: redis.Redis
) -> None:
    bus, stopper = make_bus(), make_worker()
    watches = [bus.watch(f"many-{n}") for n in range(500)]
    signals = [watch.__enter__() for watch in watches]
    pid = os.getpid()
    try:
        assert fleet_connections(redis_client)[("sub", pid)] == 1
        assert subscriptions(redis_client, pid) == 500
        for n in range(0, 500, 5):
            stopper.stop(f"many-{n}", timeout=0)
        wait_until(lambda: sum(s.aborted for s in signals) == 100, "100 stops")
        expected = {("sub", pid): 1, ("cmd", pid): 1, ("sub", stopper.pid): 1, ("cmd", stopper.pid): 1}
        assert fleet_connections(redis_client) == expected
    finally:
        for watch in watches:
            watch.__exit__(None, None, None)
    assert subscriptions(redis_client, pid) == 0
    assert fleet_connections(redis_client) == expected  # kept open for the next watch


def test_each_process_holds_one_subscriber_and_one_command_connection(
    make_worker: Callable[..., Worker], redis_client: redis.Redis
) -> None:
    workers = [make_worker() for _ in range(3)]
    for worker in workers:
        worker.watch([f"p{worker.pid}-{n}" for n in range(50)])
        worker.watch([f"p{worker.pid}-a{n}" for n in range(50)], mode="async")
    for worker in workers:  # every worker stops one stream of each other worker
        for other in workers:
            if other is not worker:
                assert worker.stop(f"p{other.pid}-{worker.pid % 50}") is True
    counts = fleet_connections(redis_client)
    assert counts == {(role, w.pid): 1 for w in workers for role in ("sub", "cmd")}
    assert all(subscriptions(redis_client, w.pid) == 100 for w in workers)
