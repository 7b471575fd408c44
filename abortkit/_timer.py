"""One shared timer for ``AbortSignal.timeout`` and ``IdleWatchdog``.

A thread per timeout would cost a thread start per turn in a REPL and leave threads
behind; one scheduler thread with a heap costs an insert. A cancelled entry (or one
whose timeout signal was garbage collected) is dropped lazily and compacted away
once dead entries outnumber the live ones, so nothing piles up on a long-lived
process.

Nothing a callback does can stop or delay the other timeouts
-------------------------------------------------------------
The scheduler thread never runs a callback: it hands each one that is due to a
worker thread. A worker runs callbacks one after the other; when a due callback has
waited ``SLOW_SECONDS`` for a worker because every worker is busy (a slow listener: a
callback is an ``abort()``, which runs the signal's listeners), another worker is
started, up to ``MAX_WORKERS``, so one slow listener delays the others by at most
that (Go's ``AfterFunc`` runs each function in its own goroutine for the same reason;
waiting a little first keeps the usual, quick callbacks on one thread). Workers
beyond the first exit after ``IDLE_SECONDS`` without work. Whatever a callback raises, ``SystemExit``
and ``KeyboardInterrupt`` included, is reported on the ``abortkit`` logger (ERROR,
with the traceback) and the worker goes on: on this thread nobody could catch it,
and letting it end the thread would silently stop every timeout in the process.

Fork
----
``os.fork()`` copies only the forking thread. Before a fork the module's lock is
taken (so that no other thread is half-way through changing the heap), and in the
child everything is rebuilt: a new lock, no threads; a new scheduler is started if
inherited entries are waiting, so the child's copies of pending timeouts fire there
too.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["IDLE_SECONDS", "MAX_WORKERS", "SLOW_SECONDS", "TimerHandle", "call_later", "pending_timers", "schedule"]

logger = logging.getLogger("abortkit")

MAX_WORKERS = 64
IDLE_SECONDS = 10.0
SLOW_SECONDS = 0.005

_lock = threading.Lock()
_wakeup = threading.Condition(_lock)  # the scheduler waits here for an earlier deadline
_work = threading.Condition(_lock)  # idle workers wait here for a due callback
_heap: list[list[Any]] = []  # [deadline, sequence, handle]: lists, see schedule()
_due: deque[tuple[float, TimerHandle]] = deque()  # (when it became due, handle)
_sequence = itertools.count()
# Appended to by cancel(), which may run inside a weakref callback during any
# allocation (even while _lock is held on this thread), so it must not take the lock:
# deque.append is atomic.
_cancelled: deque[int] = deque()
_thread: threading.Thread | None = None
_workers = 0
_idle = 0


class TimerHandle:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], object] | None) -> None:
        self.callback: Callable[[], object] | None = callback

    def cancel(self) -> None:
        """Drop the callback; lock-free, so safe from weakref callbacks and signal handlers."""
        if self.callback is not None:
            self.callback = None
            _cancelled.append(1)


def call_later(delay: float, callback: Callable[[], object]) -> TimerHandle:
    """Run ``callback()`` on a timer worker thread after ``delay`` seconds."""
    handle = TimerHandle(callback)
    schedule(handle, time.monotonic() + delay)
    return handle


def schedule(handle: TimerHandle, deadline: float, *, not_before: float = 0.0) -> None:
    """Run ``handle``'s callback at ``deadline`` (``time.monotonic()``), unless cancelled first.

    ``not_before``: and no sooner than that many seconds after the entry is in the heap
    (``AbortSignal.timeout``'s resolution). Measured after the entry is allocated: an
    allocation can start a garbage collection that lasts longer than the resolution.
    """
    global _thread
    with _lock:
        entry: list[Any] = [deadline, next(_sequence), handle]
        if not_before:
            entry[0] = max(deadline, time.monotonic() + not_before)
        heapq.heappush(_heap, entry)
        _compact_if_mostly_dead()
        if _thread is None or not _thread.is_alive():
            _thread = _start(_schedule_forever, "abortkit-timers")
        _wakeup.notify()


def pending_timers() -> int:
    """Live (not cancelled, not yet run) entries: for leak checks."""
    with _lock:
        waiting = sum(1 for entry in _heap if entry[2].callback is not None)
        return waiting + sum(1 for _, handle in _due if handle.callback is not None)


def _start(target: Callable[[], None], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _compact_if_mostly_dead() -> None:
    if len(_cancelled) * 2 > len(_heap):
        _cancelled.clear()
        _heap[:] = [entry for entry in _heap if entry[2].callback is not None]
        heapq.heapify(_heap)


def _schedule_forever() -> None:
    """The scheduler: waits for the next deadline and hands what is due to the workers."""
    global _workers, _idle
    with _lock:
        while True:
            _compact_if_mostly_dead()
            now = time.monotonic()
            while _heap and _heap[0][0] <= now:
                handle = heapq.heappop(_heap)[2]
                if handle.callback is not None:
                    _due.append((now, handle))
                    _work.notify()
            # A callback that waited too long for a busy worker gets one of its own.
            stalled = bool(_due) and _idle == 0 and now - _due[0][0] >= SLOW_SECONDS
            if (stalled or (_due and not _workers)) and _workers < MAX_WORKERS:
                _workers += 1
                _idle += 1  # born idle: the next pass does not start another for the same job
                _start(_work_forever, "abortkit-timer-worker")
            waits = [_heap[0][0] - now] if _heap else []
            if _due and _workers < MAX_WORKERS:  # look again when the oldest would stall
                waits.append(SLOW_SECONDS if _idle else SLOW_SECONDS - (now - _due[0][0]))
            _wakeup.wait(max(0.0, min(waits)) if waits else None)


def _work_forever() -> None:
    """A worker: runs due callbacks; nothing they raise ends it (see the module docstring).

    ``_idle`` counts the workers not running a callback (a new one is born idle).
    """
    global _workers, _idle
    while True:
        with _lock:
            while not _due:
                if not _work.wait(IDLE_SECONDS) and not _due and _workers > 1:
                    _workers -= 1
                    _idle -= 1
                    return
            handle = _due.popleft()[1]
            _idle -= 1
        callback, handle.callback = handle.callback, None
        if callback is not None:
            _run(callback)
        with _lock:
            _idle += 1


def _run(callback: Callable[[], object]) -> None:
    try:
        callback()
    except BaseException as exc:  # see the module docstring
        logger.error("timer callback %r raised", callback, exc_info=exc)


# -- fork ------------------------------------------------------------------------------------
_held_for_fork = False


def _before_fork() -> None:
    global _held_for_fork
    # Bounded: if this very thread holds the lock (a signal handler forking inside
    # schedule()), waiting would deadlock; the child rebuilds the heap anyway.
    _held_for_fork = _lock.acquire(timeout=1.0)


def _after_fork_in_parent() -> None:
    global _held_for_fork
    if _held_for_fork:
        _held_for_fork = False
        _lock.release()


def _after_fork_in_child() -> None:
    global _lock, _wakeup, _work, _thread, _workers, _idle, _held_for_fork
    _lock = threading.Lock()
    _wakeup = threading.Condition(_lock)
    _work = threading.Condition(_lock)
    _thread, _workers, _idle, _held_for_fork = None, 0, 0, False
    heapq.heapify(_heap)  # in case the lock could not be taken before the fork
    due = [handle for _, handle in _due if handle.callback is not None]
    _due.clear()
    if _heap or due:
        with _lock:
            for handle in due:  # due in the parent, never run here: due now
                heapq.heappush(_heap, [0.0, next(_sequence), handle])
            _thread = _start(_schedule_forever, "abortkit-timers")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
