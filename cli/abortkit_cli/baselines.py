"""The abort strategies abortkit is measured against, and the stopwatch that measures them.

Why this module exists: "stops within milliseconds" means nothing without the alternatives
measured the same way, in the same run, on the same machine. Each strategy below consumes an
SDK stream (an openai ``Stream``, an anthropic ``MessageStream``, their async twins: anything
with ``.response`` and ``close()``) until it ends or the signal trips, and they differ only in
how the abort reaches a consumer blocked in a socket read:

* :func:`close_only`: the seed's pattern (a listener calling ``stream.response.close()`` from the
  aborting thread, and an in-loop ``if signal.aborted: break``). On Linux the blocked read does
  not wake: the consumer unwinds only when the next chunk arrives. It is the "before".
* :func:`polling_worker`: the field's first workaround. A worker thread iterates the stream into
  a queue; the consumer polls the queue every 100 ms and checks the signal. It unwinds within one
  poll period, and leaves the worker (and its connection) behind until the next chunk.
* :func:`bare_shutdown`: the floor. A listener that shuts the response's socket down and closes
  it, nothing else. No correct strategy that needs the socket closed can beat it by much.
* :func:`abortkit_close_on_abort`: ``with close_on_abort(signal, stream)`` around
  ``abortable_iter(stream, signal)``.

The async twins use the same names with ``_async``. For async the floor is the same shutdown
(the loop's selector wakes); the seed's pattern becomes ``await response.aclose()`` scheduled on
the loop, which does wake the consumer. The polling worker has no async twin: an async consumer
is never stuck in a read the loop cannot interrupt, which is the problem the worker worked around.

Every strategy has the same contract so that one stopwatch fits all: it returns the items it
handed over when the stream ends normally, and raises ``AbortError`` (``partial``: the items
handed over) when the abort stopped it, whatever the SDK raised on the way. It closes the
stream before it returns.

:func:`measure_unwind` (and :func:`measure_unwind_async`) time one abort: from the moment
``controller.abort()`` is called, on a separate real thread, at a chosen moment (for instance
30 ms after the first item, inside a scripted gap), to the moment the consumer is out of the
strategy.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import suppress
from typing import Any, Protocol, TypeVar

from abortkit import AbortController, AbortError, AbortSignal, abortable_iter, close_on_abort

__all__ = [
    "ASYNC_STRATEGIES",
    "SYNC_STRATEGIES",
    "AsyncSDKStream",
    "AsyncStrategy",
    "OnItem",
    "SyncSDKStream",
    "SyncStrategy",
    "UnwindNotMeasured",
    "abortkit_close_on_abort",
    "abortkit_close_on_abort_async",
    "bare_shutdown",
    "bare_shutdown_async",
    "close_only",
    "close_only_async",
    "measure_unwind",
    "measure_unwind_async",
    "polling_worker",
]

T = TypeVar("T")
S = TypeVar("S")
T_co = TypeVar("T_co", covariant=True)

OnItem = Callable[[Any], object]
"""Called with each item as it is handed over (a demo prints it; the stopwatch counts it)."""


class SyncSDKStream(Protocol[T_co]):
    """What the sync strategies consume: an openai/anthropic ``Stream`` or ``MessageStream``."""

    @property
    def response(self) -> Any: ...  # the httpx/httpx2 Response

    def __iter__(self) -> Iterator[T_co]: ...

    def close(self) -> object: ...


class AsyncSDKStream(Protocol[T_co]):
    """What the async strategies consume: ``AsyncStream`` or ``AsyncMessageStream``."""

    @property
    def response(self) -> Any: ...

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    def close(self) -> Awaitable[object]: ...


SyncStrategy = Callable[[SyncSDKStream[T], AbortSignal, OnItem | None], list[T]]
AsyncStrategy = Callable[[AsyncSDKStream[T], AbortSignal, OnItem | None], Awaitable[list[T]]]


def _aborted(signal: AbortSignal, items: list[Any]) -> AbortError:
    return AbortError(signal.reason, partial=items)


def _socket_of(stream: SyncSDKStream[Any] | AsyncSDKStream[Any]) -> Any:
    """The socket under the stream's response (httpcore's ``network_stream`` extension)."""
    return stream.response.extensions["network_stream"].get_extra_info("socket")


# -- the seed: close the response from the aborting thread -----------------------------------


def close_only(stream: SyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None) -> list[T]:
    """The seed's pattern: ``stream.response.close()`` from the aborting thread, plus an in-loop check.

    The close does not wake a thread blocked in ``recv`` (the kernel keeps the socket alive
    for the read in progress), so this unwinds when the next chunk arrives: the check at the
    top of the loop then breaks out. ``add_listener`` runs the listener at once if the
    signal has already tripped, which is the seed's register-then-recheck.
    """
    response = stream.response
    items: list[T] = []
    registration = signal.add_listener(response.close)
    try:
        for item in stream:
            if signal.aborted:
                break
            items.append(item)
            if on_item is not None:
                on_item(item)
    except Exception as exc:
        if signal.aborted:  # the seed's rule: the signal's state says it was an abort
            raise _aborted(signal, items) from exc
        raise
    finally:
        registration.remove()
        stream.close()
    if signal.aborted:
        raise _aborted(signal, items)
    return items


async def close_only_async(stream: AsyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None) -> list[T]:
    """The seed's pattern for async: ``await response.aclose()`` scheduled on the consumer's loop.

    Unlike the sync case this does wake the consumer: closing the transport on the loop
    ends the pending read.
    """
    loop = asyncio.get_running_loop()
    response = stream.response
    tasks: set[asyncio.Task[Any]] = set()

    def start_close() -> None:  # on the loop
        tasks.add(loop.create_task(response.aclose()))

    def on_abort() -> None:  # any thread
        with suppress(RuntimeError):  # the loop is closed: nothing is waiting any more
            loop.call_soon_threadsafe(start_close)

    items: list[T] = []
    registration = signal.add_listener(on_abort)
    try:
        async for item in stream:
            if signal.aborted:
                break
            items.append(item)
            if on_item is not None:
                on_item(item)
    except Exception as exc:
        if signal.aborted:
            raise _aborted(signal, items) from exc
        raise
    finally:
        registration.remove()
        await stream.close()
        for task in tasks:
            with suppress(Exception):
                await task
    if signal.aborted:
        raise _aborted(signal, items)
    return items


# -- the field's first workaround: a worker thread and a polled queue -------------------------

_ITEM, _END, _ERROR = range(3)


def polling_worker(
    stream: SyncSDKStream[T],
    signal: AbortSignal,
    on_item: OnItem | None = None,
    *,
    poll_interval: float = 0.1,
) -> list[T]:
    """A worker thread iterates the stream into a queue; the consumer polls it every 100 ms.

    The consumer is never blocked in a socket read, so it notices the abort within one poll
    period, but no sooner (ESC costs up to ``poll_interval``). It then returns at once and
    orphans the worker, which is still blocked in the read: the worker (and its connection)
    lives on until the next chunk arrives, then sees the abort and closes the stream from its
    own thread. (Closing it from the consumer's thread instead would not wake the worker, and
    once the descriptor number is reused by a new connection, the orphan's pending read can
    keep the old connection open indefinitely: measured while building these benchmarks.)
    """
    channel: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            for item in stream:
                channel.put((_ITEM, item))
                if signal.aborted:
                    break
            channel.put((_END, None))
        except BaseException as exc:  # handed to the consumer, who decides what it means
            channel.put((_ERROR, exc))
        finally:
            with suppress(Exception):
                stream.close()

    worker = threading.Thread(target=work, name="abortkit-baseline-polling-worker", daemon=True)
    worker.start()
    items: list[T] = []
    while not signal.aborted:
        try:
            kind, value = channel.get(timeout=poll_interval)
        except queue.Empty:
            continue
        if kind == _END:
            break
        if kind == _ERROR:
            if signal.aborted:
                raise _aborted(signal, items) from value
            raise value
        items.append(value)
        if on_item is not None:
            on_item(value)
    if signal.aborted:
        raise _aborted(signal, items)
    return items


# -- the floor: shut the socket down, nothing else --------------------------------------------


def bare_shutdown(stream: SyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None) -> list[T]:
    """The floor: a listener that shuts the response's socket down, then closes it.

    ``socket.socket.shutdown`` rather than ``SSLSocket.shutdown``: the latter also drops the
    SSL object under the thread still reading. No in-loop check, no guard against a
    connection already handed back to the pool, no exception translation beyond "the
    signal tripped": it is the least work that wakes the reader, not a safe strategy.
    """
    sock = _socket_of(stream)

    def on_abort() -> None:
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        sock.close()

    items: list[T] = []
    registration = signal.add_listener(on_abort)
    try:
        for item in stream:
            items.append(item)
            if on_item is not None:
                on_item(item)
    except Exception as exc:
        if signal.aborted:
            raise _aborted(signal, items) from exc
        raise
    finally:
        registration.remove()
        stream.close()
    if signal.aborted:
        raise _aborted(signal, items)
    return items


async def bare_shutdown_async(stream: AsyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None) -> list[T]:
    """The async floor: the same ``shutdown`` from the aborting thread, which wakes the selector.

    No close from the aborting thread: the socket belongs to the loop's transport, which
    closes it when the consumer's read fails.
    """
    sock = _socket_of(stream)

    def on_abort() -> None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    items: list[T] = []
    registration = signal.add_listener(on_abort)
    try:
        async for item in stream:
            items.append(item)
            if on_item is not None:
                on_item(item)
    except Exception as exc:
        if signal.aborted:
            raise _aborted(signal, items) from exc
        raise
    finally:
        registration.remove()
        await stream.close()
    if signal.aborted:
        raise _aborted(signal, items)
    return items


# -- abortkit ----------------------------------------------------------------------------------


def abortkit_close_on_abort(stream: SyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None) -> list[T]:
    """abortkit: ``with close_on_abort(signal, stream): for x in abortable_iter(stream, signal)``."""
    items: list[T] = []
    try:
        with close_on_abort(signal, stream):
            for item in abortable_iter(stream, signal):
                items.append(item)
                if on_item is not None:
                    on_item(item)
    except AbortError as error:
        error.partial = items
        raise
    finally:
        stream.close()
    return items


async def abortkit_close_on_abort_async(
    stream: AsyncSDKStream[T], signal: AbortSignal, on_item: OnItem | None = None
) -> list[T]:
    """abortkit, async: ``async with close_on_abort(...)`` around ``async for ... abortable_iter``."""
    items: list[T] = []
    try:
        async with close_on_abort(signal, stream):
            async for item in abortable_iter(stream, signal):
                items.append(item)
                if on_item is not None:
                    on_item(item)
    except AbortError as error:
        error.partial = items
        raise
    finally:
        await stream.close()
    return items


SYNC_STRATEGIES: Mapping[str, SyncStrategy[Any]] = {
    "close-only": close_only,
    "polling-worker": polling_worker,
    "bare-shutdown": bare_shutdown,
    "abortkit": abortkit_close_on_abort,
}
"""The sync strategies by the names the benchmark report uses."""

ASYNC_STRATEGIES: Mapping[str, AsyncStrategy[Any]] = {
    "close-only": close_only_async,
    "bare-shutdown": bare_shutdown_async,
    "abortkit": abortkit_close_on_abort_async,
}
"""The async strategies by the names the benchmark report uses."""


# -- the stopwatch -----------------------------------------------------------------------------


class UnwindNotMeasured(RuntimeError):
    """The trial measured nothing: the abort never fired, or the consumer did not stop because of it."""


class _Tripwire:
    """Aborts ``controller`` from its own thread, ``abort_after`` seconds after the trigger.

    The trigger is the ``after_items``-th item handed over (0: the start of the consumer),
    then, with ``armed_by``, that function returning True (polled on this thread, so that a
    consumer finishing first is noticed). A real thread, not a timer callback on the
    consumer's thread or loop: an abort comes from the UI thread or a signal handler, and the
    consumer must not be the one to deliver it.
    """

    _POLL = 0.01  # how long one call to armed_by may block

    def __init__(
        self,
        controller: AbortController,
        abort_after: float,
        after_items: int,
        timeout: float,
        armed_by: Callable[[float], bool] | None = None,
    ) -> None:
        self._controller = controller
        self._abort_after = abort_after
        self._after_items = after_items
        self._timeout = timeout
        self._armed_by = armed_by
        self._count = 0
        self._triggered_at = 0.0
        self._trigger = threading.Event()
        self._done = threading.Event()
        self.aborted_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="abortkit-baseline-aborter", daemon=True)

    def start(self) -> None:
        if self._after_items == 0:
            self._fire_trigger()
        self._thread.start()

    def on_item(self, item: object) -> None:
        self._count += 1
        if self._count == self._after_items:
            self._fire_trigger()

    def _fire_trigger(self) -> None:
        self._triggered_at = time.perf_counter()
        self._trigger.set()

    def _armed(self) -> bool:
        """Wait for ``armed_by`` (until the deadline or the consumer's end); restart the delay from then."""
        assert self._armed_by is not None
        deadline = time.perf_counter() + self._timeout
        while not self._done.is_set() and time.perf_counter() < deadline:
            if self._armed_by(self._POLL):
                self._triggered_at = time.perf_counter()
                return True
        return False

    def _run(self) -> None:
        triggered = self._trigger.wait(self._timeout)
        if triggered and not self._done.is_set() and self._armed_by is not None:
            triggered = self._armed()
        if self._done.is_set():
            return
        if not triggered:  # free the consumer; the trial measures nothing (aborted_at stays None)
            self._controller.abort(UnwindNotMeasured(f"no trigger within {self._timeout:g} s"))
            return
        remaining = self._triggered_at + self._abort_after - time.perf_counter()
        if remaining > 0 and self._done.wait(remaining):
            return  # the consumer finished first: nothing to measure
        self.aborted_at = time.perf_counter()
        self._controller.abort("benchmark")

    def finish(self) -> None:
        """The consumer is out: release the aborter (if it has not fired) and join it."""
        self._done.set()
        self._trigger.set()
        self._thread.join()


def _check(abort_after: float | None, after_items: int) -> None:
    if abort_after is not None and abort_after < 0:
        raise ValueError(f"abort_after must be >= 0 seconds or None, not {abort_after!r}")
    if after_items < 0:
        raise ValueError(f"after_items must be >= 0, not {after_items!r}")


def _elapsed(aborted_at: float | None, unwound_at: float | None) -> float:
    if aborted_at is None:
        raise UnwindNotMeasured("the abort never fired (the trigger item never came, or the stream ended first)")
    if unwound_at is None:
        raise UnwindNotMeasured("the consumer returned normally after the abort: it did not stop because of it")
    return unwound_at - aborted_at


def measure_unwind(
    strategy: Callable[[S, AbortSignal, OnItem | None], object],
    make_stream: Callable[[], S],
    *,
    abort_after: float | None,
    after_items: int = 1,
    timeout: float = 30.0,
    armed_by: Callable[[float], bool] | None = None,
) -> float:
    """Seconds from ``controller.abort()`` to the consumer leaving ``strategy`` with ``AbortError``.

    ``make_stream()`` opens the stream (the request and its headers are not timed); then
    ``strategy(stream, signal, on_item)`` consumes it on this thread while another thread
    calls ``abort()`` ``abort_after`` seconds after the ``after_items``-th item (0: after the
    strategy starts, e.g. while it waits for headers). ``abort_after=None``: the signal is
    aborted on this thread just before the strategy starts (the "already aborted" path).
    Both ends are read with ``time.perf_counter``. Any exception other than ``AbortError``
    propagates; ``UnwindNotMeasured`` if the abort never fired or was not what stopped it
    (if the trigger has not come within ``timeout``, the signal is aborted anyway, to free
    the consumer, and the trial measures nothing). ``armed_by(wait)``, if given, must also
    return True before the delay starts (it may block up to ``wait`` seconds; it is called
    again until ``timeout``): e.g. "the server has received the request", so that an abort
    meant for the headers wait cannot land while a loaded machine is still connecting.
    ``strategy`` may be any callable of that shape, e.g. one that drives a provider.
    """
    _check(abort_after, after_items)
    controller = AbortController()
    stream = make_stream()
    unwound_at: float | None = None
    if abort_after is None:
        aborted_at: float | None = time.perf_counter()
        controller.abort("benchmark")
        try:
            strategy(stream, controller.signal, None)
        except AbortError:
            unwound_at = time.perf_counter()
        return _elapsed(aborted_at, unwound_at)
    tripwire = _Tripwire(controller, abort_after, after_items, timeout, armed_by)
    tripwire.start()
    try:
        strategy(stream, controller.signal, tripwire.on_item)
    except AbortError:
        unwound_at = time.perf_counter()
    finally:
        tripwire.finish()
    return _elapsed(tripwire.aborted_at, unwound_at)


async def measure_unwind_async(
    strategy: Callable[[S, AbortSignal, OnItem | None], Awaitable[object]],
    make_stream: Callable[[], Awaitable[S]],
    *,
    abort_after: float | None,
    after_items: int = 1,
    timeout: float = 30.0,
    armed_by: Callable[[float], bool] | None = None,
) -> float:
    """The async twin of :func:`measure_unwind`: the consumer runs on the caller's loop.

    The aborter is still a real thread. Once the consumer is out, joining it may block the
    loop for as long as ``abort()`` takes to return (its listeners run on that thread).
    """
    _check(abort_after, after_items)
    controller = AbortController()
    stream = await make_stream()
    unwound_at: float | None = None
    if abort_after is None:
        aborted_at: float | None = time.perf_counter()
        controller.abort("benchmark")
        try:
            await strategy(stream, controller.signal, None)
        except AbortError:
            unwound_at = time.perf_counter()
        return _elapsed(aborted_at, unwound_at)
    tripwire = _Tripwire(controller, abort_after, after_items, timeout, armed_by)
    tripwire.start()
    try:
        await strategy(stream, controller.signal, tripwire.on_item)
    except AbortError:
        unwound_at = time.perf_counter()
    finally:
        tripwire.finish()
    return _elapsed(tripwire.aborted_at, unwound_at)
