"""One shared timer thread for ``AbortSignal.timeout``.

A thread per timeout would cost a thread start per turn in a REPL and leave threads
behind; one daemon thread with a heap costs an insert. The heap holds timeout signals
weakly, so a signal dropped before its deadline is not kept alive; dead entries are
compacted once they outnumber the live ones, so they cannot pile up either.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._signal import AbortSignal

__all__ = ["pending_timeouts", "schedule_timeout"]

_Entry = tuple[float, int, "weakref.ref[AbortSignal]", float]

_lock = threading.Lock()
_wakeup = threading.Condition(_lock)
_heap: list[_Entry] = []
_sequence = itertools.count()
# Appended to by weakref callbacks, which may run during any allocation (even while
# _lock is held on the same thread), so they must not take the lock: deque.append is
# atomic.
_collected: deque[int] = deque()
_thread: threading.Thread | None = None


def schedule_timeout(signal: AbortSignal, seconds: float) -> None:
    global _thread
    deadline = time.monotonic() + seconds
    ref = weakref.ref(signal, lambda _ref: _collected.append(1))
    with _lock:
        heapq.heappush(_heap, (deadline, next(_sequence), ref, seconds))
        if len(_collected) * 2 > len(_heap):
            _compact()
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="abortkit-timeouts", daemon=True)
            _thread.start()
        _wakeup.notify()


def pending_timeouts() -> int:
    """Entries on the heap whose signal is still alive (for leak checks)."""
    with _lock:
        return sum(1 for entry in _heap if entry[2]() is not None)


def _compact() -> None:
    _collected.clear()
    _heap[:] = [entry for entry in _heap if entry[2]() is not None]
    heapq.heapify(_heap)


def _run() -> None:
    while True:
        with _lock:
            while True:
                if _collected and len(_collected) * 2 > len(_heap):
                    _compact()
                if not _heap:
                    _wakeup.wait()
                    continue
                delay = _heap[0][0] - time.monotonic()
                if delay <= 0:
                    _deadline, _seq, ref, seconds = heapq.heappop(_heap)
                    break
                _wakeup.wait(delay)
        signal = ref()
        if signal is not None:
            signal._abort(TimeoutError(f"signal timed out after {seconds:g} s"))
            del signal
