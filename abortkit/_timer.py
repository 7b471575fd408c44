"""One shared timer thread for ``AbortSignal.timeout`` and ``IdleWatchdog``.

A thread per timeout would cost a thread start per turn in a REPL and leave threads
behind; one daemon thread with a heap costs an insert. A cancelled entry (or one
whose timeout signal was garbage collected) is dropped lazily and compacted away
once dead entries outnumber the live ones, so nothing piles up on a long-lived
process. Callbacks run on the timer thread and should be short (an ``abort()``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TimerHandle", "call_later", "pending_timers"]

_lock = threading.Lock()
_wakeup = threading.Condition(_lock)
_heap: list[tuple[float, int, TimerHandle]] = []
_sequence = itertools.count()
# Appended to by cancel(), which may run inside a weakref callback during any
# allocation (even while _lock is held on this thread), so it must not take the lock:
# deque.append is atomic.
_cancelled: deque[int] = deque()
_thread: threading.Thread | None = None


class TimerHandle:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], object]) -> None:
        self.callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        """Drop the callback; lock-free, so safe from weakref callbacks and signal handlers."""
        if self.callback is not None:
            self.callback = None
            _cancelled.append(1)


def call_later(delay: float, callback: Callable[[], object]) -> TimerHandle:
    global _thread
    handle = TimerHandle(callback)
    deadline = time.monotonic() + delay
    with _lock:
        heapq.heappush(_heap, (deadline, next(_sequence), handle))
        _compact_if_mostly_dead()
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="abortkit-timers", daemon=True)
            _thread.start()
        _wakeup.notify()
    return handle


def pending_timers() -> int:
    """Live (not cancelled) entries: for leak checks."""
    with _lock:
        return sum(1 for entry in _heap if entry[2].callback is not None)


def _compact_if_mostly_dead() -> None:
    if len(_cancelled) * 2 > len(_heap):
        _cancelled.clear()
        _heap[:] = [entry for entry in _heap if entry[2].callback is not None]
        heapq.heapify(_heap)


def _run() -> None:
    while True:
        with _lock:
            while True:
                _compact_if_mostly_dead()
                if not _heap:
                    _wakeup.wait()
                    continue
                delay = _heap[0][0] - time.monotonic()
                if delay <= 0:
                    handle = heapq.heappop(_heap)[2]
                    break
                _wakeup.wait(delay)
        callback, handle.callback = handle.callback, None
        if callback is not None:
            try:
                callback()
            except Exception:  # a timer callback must not kill the shared thread
                import logging

                logging.getLogger("abortkit").exception("timer callback %r raised", callback)
