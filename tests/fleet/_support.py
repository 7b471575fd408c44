"""What the fleet tests share: polling with a hang bound, and Redis introspection."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

# Tests bound waits only to catch a hang: about 20x what the step needs on this machine.
HANG = 10.0


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = HANG) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.002)


def fleet_connections(client: redis.Redis) -> Counter[tuple[str, int]]:
    """(role, pid) -> connections, from CLIENT LIST (the bus names its connections)."""
    counts: Counter[tuple[str, int]] = Counter()
    for entry in client.client_list():
        name = entry.get("name", "")
        if name.startswith("abortkit-fleet:"):
            _, role, pid = name.split(":")
            counts[(role, int(pid))] += 1
    return counts


def subscriptions(client: redis.Redis, pid: int) -> int:
    """Channels the subscriber connection of process ``pid`` holds."""
    total = 0
    for entry in client.client_list():
        if entry.get("name") == f"abortkit-fleet:sub:{pid}":
            total += int(entry["sub"])
    return total


def numsub(client: redis.Redis, channel: str) -> int:
    ((_, count),) = client.pubsub_numsub(channel)
    return int(count)
