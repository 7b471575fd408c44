"""Shared helpers for the pool-safety and scale tests: a precise trip thread, a staircase that keeps
the trip time on the edge of a race, fd counting, and small SDK/client factories.

Nothing here mocks I/O: every helper drives real sockets on 127.0.0.1.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from abortkit import AbortController

MESSAGES: Any = [{"role": "user", "content": "hi"}]


def open_fds() -> int:
    """How many file descriptors this process has open (Linux: /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd"))


def wait_for_fds(at_most: int, timeout: float = 3.0) -> int:
    """Poll until the fd count is at most ``at_most`` (sockets close asynchronously); the count."""
    deadline = time.monotonic() + timeout
    while True:
        count = open_fds()
        if count <= at_most or time.monotonic() >= deadline:
            return count
        time.sleep(0.01)


@contextmanager
def fast_thread_switching(interval: float = 5e-5) -> Iterator[None]:
    """Make the GIL change hands often, so a trip from another thread can land between any two
    bytecodes of the consumer (with the default 5 ms it would mostly land at I/O boundaries)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class Tripper:
    """One long-lived thread that aborts a controller at an absolute ``time.monotonic()`` time.

    ``schedule`` returns a handle whose ``wait()`` returns the moment the trip started
    (``time.monotonic()`` just before ``abort()``). Reusing one thread keeps thread start-up out of
    the timing.
    """

    @dataclass
    class Handle:
        controller: AbortController
        at: float
        after: threading.Event | None = None
        done: threading.Event = field(default_factory=threading.Event)
        tripped_at: float | None = None
        returned_at: float | None = None

        def wait(self, timeout: float = 10.0) -> float:
            if not self.done.wait(timeout):
                raise AssertionError("the trip thread never tripped (abort() blocked?)")
            assert self.tripped_at is not None
            return self.tripped_at

    def __init__(self) -> None:
        self._queue: queue.Queue[Tripper.Handle | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="trip-thread", daemon=True)
        self._thread.start()

    def schedule(self, controller: AbortController, at: float) -> Tripper.Handle:
        """Trip at the absolute time ``at``."""
        handle = Tripper.Handle(controller, at)
        self._queue.put(handle)
        return handle

    def schedule_after(self, controller: AbortController, event: threading.Event, delay: float) -> Tripper.Handle:
        """Trip ``delay`` seconds after ``event`` is set (or after 10 s if it never is)."""
        handle = Tripper.Handle(controller, delay, after=event)
        self._queue.put(handle)
        return handle

    def _run(self) -> None:
        while (handle := self._queue.get()) is not None:
            if handle.after is not None:
                handle.after.wait(10)
                handle.at += time.monotonic()
            delay = handle.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            handle.tripped_at = time.monotonic()
            handle.controller.abort("esc")
            handle.returned_at = time.monotonic()
            handle.done.set()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def __enter__(self) -> Tripper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Staircase:
    """Adaptive trip delay that converges on the point where half the trips interrupt the
    stream and half land after its end: the race's edge, where trials are most informative.

    ``next()`` draws a delay (jittered around the current level); ``update(interrupted)`` moves
    the level up after an interrupted stream and down after a completed one.
    """

    def __init__(
        self, start: float, *, step: float = 1.15, spread: tuple[float, float] = (0.7, 1.8), seed: int = 0
    ) -> None:
        self.level = start
        self.step = step
        self.spread = spread
        self.rng = random.Random(seed)

    def next(self) -> float:
        return self.level * self.rng.uniform(*self.spread)

    def update(self, interrupted: bool) -> None:
        self.level = self.level * self.step if interrupted else self.level / self.step
        self.level = min(max(self.level, 20e-6), 0.5)


@dataclass
class Tally:
    """Outcome counts of a race test, printed so a run shows what it exercised."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()))
