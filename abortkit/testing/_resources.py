"""In-memory streams for pure-logic abort races, and the thread/fd snapshots of the race harness.

Why in-memory streams: the races worth fuzzing thousands of times (register versus trip,
recheck, iteration, exit) live in abortkit's bookkeeping, not in the network. A loopback
server costs milliseconds per run; :class:`SlowStream` costs microseconds and behaves like
a response body where it matters:

* a read *blocks* between items (in a ``threading.Condition``), as ``recv`` does;
* ``close()`` from any thread, from a listener or from a signal handler wakes a blocked read,
  which then raises :class:`StreamClosed` (an ``Exception``, like ``httpx.ReadError`` on a
  socket that was shut down), so ``close_on_abort`` has something to interrupt and its
  exception translation something to translate;
* the closed state is level-triggered, like a shut-down socket: every read after the close
  fails, not only the one that was blocked;
* every ``close()`` call is logged with its time and thread, for the invariant "at most one
  close per response".
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from .._validate import seconds as check_seconds

__all__ = ["AsyncSlowStream", "CloseCall", "SlowStream", "StreamClosed"]

T = TypeVar("T")

# A signal handler that closes the stream runs on the very thread that may be between
# "the predicate is false" and "wait" inside Condition.wait_for: its notify would be lost
# and the read would sleep a whole gap. Waiting in slices bounds that to one slice (a
# socket does not have the problem: its shutdown state is level-triggered).
_WAIT_SLICE = 0.005


class StreamClosed(Exception):
    """A read on a :class:`SlowStream` that was closed (before or during the read)."""


@dataclass(frozen=True)
class CloseCall:
    """One ``close()``/``aclose()`` call: when (``time.monotonic()``) and on which thread."""

    at: float
    thread: str


class SlowStream(Generic[T]):
    """A one-shot iterable that hands out ``items`` with ``gap`` seconds of blocking before each.

    ``__iter__`` returns the stream itself, so ``for x in stream`` and
    ``abortable_iter(stream, signal)`` consume the same items. ``close()`` is idempotent in
    effect but every call is counted (``close_calls``): abortkit promises at most one close
    per response from each mechanism, and a test can hold it to that.
    """

    def __init__(self, items: Iterable[T], gap: float = 0.0) -> None:
        if not isinstance(items, Iterable):
            raise TypeError(f"SlowStream items must be an iterable of items, not {type(items).__name__}")
        gap = check_seconds("SlowStream gap", gap)
        self._items = list(items)
        self._gap = gap
        self._index = 0
        self._closed = False
        # RLock: a signal handler may close the stream while this very thread is inside
        # __next__ holding the lock; a plain Lock would deadlock there.
        self._cond = threading.Condition(threading.RLock())
        self._close_log: list[CloseCall] = []  # list.append is atomic: no lock needed
        self._reads_after_close = 0

    # -- observation -----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_calls(self) -> int:
        """How many times ``close()`` was called (idempotent calls included)."""
        return len(self._close_log)

    @property
    def close_log(self) -> list[CloseCall]:
        return list(self._close_log)

    @property
    def items_read(self) -> int:
        """How many items were handed out."""
        return self._index

    @property
    def exhausted(self) -> bool:
        """True once every item has been handed out."""
        return self._index >= len(self._items)

    @property
    def reads_after_close(self) -> int:
        """Reads attempted after the close (each raised :class:`StreamClosed`)."""
        return self._reads_after_close

    # -- the stream ------------------------------------------------------------------
    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        with self._cond:
            if self._closed:
                self._reads_after_close += 1
                raise StreamClosed("read on a closed stream")
            if self._index >= len(self._items):
                raise StopIteration
            if self._gap > 0:
                deadline = time.monotonic() + self._gap
                while not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, _WAIT_SLICE))
            if self._closed:
                raise StreamClosed("stream closed while a read was blocked")
            item = self._items[self._index]
            self._index += 1
            return item

    def close(self) -> None:
        """Close the stream and wake a blocked read. Safe from any thread and from a signal handler."""
        self._close_log.append(CloseCall(time.monotonic(), threading.current_thread().name))
        with self._cond:
            if not self._closed:
                self._closed = True
                self._cond.notify_all()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._index}/{len(self._items)} read"
        return f"<SlowStream {state} gap={self._gap:g}>"


class AsyncSlowStream(Generic[T]):
    """The asyncio twin of :class:`SlowStream`: ``async for``, ``aclose()``.

    ``close_on_abort`` closes it on the consumer's loop (``aclose()`` is a coroutine
    function, so it is treated as an async response), which wakes the blocked read at
    once. ``aclose()`` must be called on the loop that iterates the stream.
    """

    def __init__(self, items: Iterable[T], gap: float = 0.0) -> None:
        if not isinstance(items, Iterable):
            raise TypeError(f"AsyncSlowStream items must be an iterable of items, not {type(items).__name__}")
        gap = check_seconds("AsyncSlowStream gap", gap)
        self._items = list(items)
        self._gap = gap
        self._index = 0
        self._closed = False
        self._wake: asyncio.Event | None = None  # created on the consumer's loop
        self._close_log: list[CloseCall] = []
        self._reads_after_close = 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def close_calls(self) -> int:
        return len(self._close_log)

    @property
    def close_log(self) -> list[CloseCall]:
        return list(self._close_log)

    @property
    def items_read(self) -> int:
        return self._index

    @property
    def exhausted(self) -> bool:
        return self._index >= len(self._items)

    @property
    def reads_after_close(self) -> int:
        return self._reads_after_close

    def _event(self) -> asyncio.Event:
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            self._reads_after_close += 1
            raise StreamClosed("read on a closed stream")
        if self._index >= len(self._items):
            raise StopAsyncIteration
        if self._gap > 0:
            try:
                await asyncio.wait_for(self._event().wait(), self._gap)
            except asyncio.TimeoutError:
                pass
        if self._closed:
            raise StreamClosed("stream closed while a read was blocked")
        item = self._items[self._index]
        self._index += 1
        return item

    async def aclose(self) -> None:
        """Close the stream and wake a blocked read (on the stream's loop)."""
        self._close_log.append(CloseCall(time.monotonic(), threading.current_thread().name))
        if not self._closed:
            self._closed = True
            self._event().set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._index}/{len(self._items)} read"
        return f"<AsyncSlowStream {state} gap={self._gap:g}>"


# -- leak snapshots (used by the race harness) ---------------------------------------------

_FD_DIRS = ("/proc/self/fd", "/dev/fd")


def open_fds() -> dict[int, str] | None:
    """This process's open file descriptors and what they point at; None where unknowable.

    The descriptor used to list the directory is left out, so two snapshots compare exactly.
    """
    for path in _FD_DIRS:
        try:
            dir_fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            continue
        try:
            names = os.listdir(dir_fd)
        finally:
            os.close(dir_fd)
        fds: dict[int, str] = {}
        for name in names:
            if not name.isdigit() or int(name) == dir_fd:
                continue
            try:
                target = os.readlink(f"{path}/{name}")
            except FileNotFoundError:  # closed while we listed: another thread's, and gone
                continue
            except OSError:
                target = "?"
            fds[int(name)] = target
        return fds
    return None


def live_threads(ignore: Collection[str] = ()) -> set[threading.Thread]:
    """The live threads, minus those whose name is in ``ignore``."""
    return {thread for thread in threading.enumerate() if thread.is_alive() and thread.name not in ignore}


def leftovers(
    threads_before: set[threading.Thread],
    fds_before: dict[int, str] | None,
    *,
    ignore_threads: Collection[str],
    settle: float,
) -> tuple[list[str], dict[int, str]]:
    """Threads and fds that appeared since the snapshot and are still there after ``settle`` s.

    Threads get a short while to exit: a thread that has finished its work may still be
    unwinding when the race ends, which is not a leak.
    """
    deadline = time.monotonic() + settle
    while True:
        new_threads = sorted(t.name for t in live_threads(ignore_threads) - threads_before)
        fds_now = open_fds() if fds_before is not None else None
        new_fds: dict[int, str] = {}
        if fds_before is not None and fds_now is not None:
            new_fds = {fd: target for fd, target in fds_now.items() if fds_before.get(fd) != target}
        if (not new_threads and not new_fds) or time.monotonic() >= deadline:
            return new_threads, new_fds
        time.sleep(0.005)
