"""``abortable_iter(..., detach=True)``: walk away from a producer nothing can wake.

A pure-Python iterator blocked in ``next()`` (a generator waiting on a lock, a library
reading a socket abortkit cannot reach) cannot be interrupted: closing it from another
thread raises "generator already executing", and there is no socket to shut down. What
can be done is what the sync connect does (``_network._connect_abortably``): let a
helper thread do the blocking, and let the consumer stop waiting.

The helper thread iterates the source and hands items over through a ``SimpleQueue``;
a semaphore bounds how far it runs ahead (``buffer`` items). The consumer takes items
from the queue; the abort listener puts a marker on the same queue, so the consumer's
wait ends at once, whatever the producer is doing. ``SimpleQueue.put`` is reentrant:
safe from a listener that runs in a signal handler on the consumer's own thread.

Abandoning: when the consumer stops early (the abort, a ``break``, an exception), it
marks the run abandoned and gives the helper a free slot. The helper drops whatever
it produces after that, closes the source itself (a generator can only be closed by
a thread that is not running it: the helper is the one), and exits as soon as the
source lets it: at its next item, or when the blocked call returns. It is a daemon
thread: a producer blocked forever does not keep the process alive.

Cost: a thread per iteration and a queue hand-off per item (microseconds): use it for
producers that cannot be woken, not for SDK streams, which ``close_on_abort`` and the
instrumented network layer wake directly.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from . import _scope
from ._errors import AbortError
from ._foreign import SignalArgument
from ._translate import ErrorFactory, final_error, leaving

__all__ = ["DEFAULT_BUFFER", "detached_iter"]

T = TypeVar("T")
logger = logging.getLogger("abortkit")

DEFAULT_BUFFER = 64

_ITEM, _END, _RAISED, _ABORTED = range(4)


class _Run:
    """The state one helper thread shares with its consumer."""

    __slots__ = ("abandoned", "channel", "slots", "source")

    def __init__(self, source: Iterable[Any], buffer: int) -> None:
        self.source = source
        self.channel: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self.slots = threading.Semaphore(buffer)
        self.abandoned = False

    def produce(self) -> None:
        """The helper thread: iterate, hand over, and close the source when done or abandoned."""
        iterator: Any = None
        try:
            iterator = iter(self.source)
            for item in iterator:
                self.slots.acquire()
                if self.abandoned:
                    break
                self.channel.put((_ITEM, item))
            else:
                self.channel.put((_END, None))
        except BaseException as exc:  # handed to the consumer (or dropped, if it left)
            if not self.abandoned:
                self.channel.put((_RAISED, exc))
        finally:
            if self.abandoned:
                _close_quietly(self.source, iterator)

    def abandon(self) -> None:
        self.abandoned = True
        self.slots.release()  # a helper waiting for room sees it at once


def _close_quietly(source: object, iterator: object) -> None:
    for owner in (iterator, source):
        close = getattr(owner, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                logger.debug("closing %r after the consumer left failed", owner, exc_info=True)
            return


def detached_iter(
    source: Iterable[T],
    argument: SignalArgument,
    buffer: int = DEFAULT_BUFFER,
    factory: ErrorFactory | None = None,
) -> Iterator[T]:
    """Iterate ``source`` on a helper thread; see the module docstring."""
    signal = argument.adopt(_scope.current())
    assert signal is not None
    run = _Run(source, buffer)
    registration = signal.add_listener(lambda: run.channel.put((_ABORTED, None)))
    complete = False
    try:
        if signal.aborted:  # never started: nobody runs the source, close it here
            _close_quietly(source, None)
            raise final_error(AbortError(signal.reason), factory)
        threading.Thread(target=run.produce, name="abortkit-detached-iter", daemon=True).start()
        while True:
            kind, value = run.channel.get()
            if kind == _ABORTED or signal.aborted:
                raise final_error(AbortError(signal.reason), factory)
            if kind == _END:
                complete = True
                return
            if kind == _RAISED:
                replacement = leaving(value, signal, factory)
                raise value if replacement is None else replacement
            run.slots.release()
            yield value
    finally:
        registration.remove()
        argument.release()
        if not complete:
            run.abandon()
