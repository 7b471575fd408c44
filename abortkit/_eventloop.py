"""Everything that differs between event loops (asyncio, trio), in one module.

The rest of abortkit (the network layer, the back-off, ``close_on_abort``,
``abortkit.asgi``) asks ``current_loop()`` (or ``running_loop()``) for the
``EventLoop`` of the running loop and uses only its answers:

* which loop am I on: ``current_loop()``/``running_loop()`` find it (asyncio first,
  then trio if it is imported), one ``EventLoop`` per running loop;
* how do I get work onto it from another thread: ``call_soon`` (batched, lock-free,
  safe from any thread and from a signal handler);
* how do I race an awaitable against an abort: ``race(signals, awaitable)``;
* how do I sleep abortably: ``sleep(signals, seconds)``;
* how do I run something in the background and stop or await it, and wait for one
  task to tell others: ``spawn(factory)`` (a ``Task``: awaitable, ``cancel()``),
  ``new_event()``.

``can_race`` says whether the last two really race. Under asyncio they do (a child
task that the abort cancels). Under trio they do not (yet): the awaitable runs to its
end, and the caller notices the abort afterwards, before any new request.

Batching (``call_soon``)
------------------------
An async response must be closed by the loop that owns it (its streams are not thread
safe), but the abort may come from a UI thread, a signal handler or a timer, and one
``abort()`` may have to interrupt a thousand streams of one loop. Scheduling each
separately costs the aborting thread a syscall per stream (the loop's self-pipe), and
every syscall hands the GIL to the loop thread, which keeps it for up to a switch
interval: measured, 1,000 streams took 2.6 s. With a batch, the aborting thread only
appends to a deque, schedules the loop once, and all the shutdowns and closes run on
the loop thread, back to back.

Race analysis: ``call_soon`` appends, *then* arms the flag (an atomic
``dict.setdefault``); ``_drain`` clears the flag, *then* pops until empty. A callback
appended before the clear is popped by that drain; one appended after it re-arms the
flag and schedules a new drain. No lock: ``call_soon`` runs inside abort listeners,
which may run in a signal handler on the loop's own thread.

Lifetime: the ``EventLoop`` of a loop holds only a weak reference to it (the cache
is keyed by the loop, weakly), so a loop that has ended is freed as usual.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from ._signal import AbortSignal
from ._waiting import Watch

__all__ = ["Event", "EventLoop", "Task", "current_loop", "running_loop"]

logger = logging.getLogger("abortkit")

T = TypeVar("T")

_loops: weakref.WeakKeyDictionary[Any, EventLoop] = weakref.WeakKeyDictionary()


class Event(Protocol):
    """What ``new_event()`` returns: asyncio's or trio's ``Event``, one loop's only."""

    def set(self) -> None: ...

    async def wait(self) -> Any: ...


class Task(Protocol):
    """What ``spawn()`` returns: await it for its end (and what it raised); ``cancel()``
    stops it (idempotent, and effective even before it first runs)."""

    def cancel(self) -> object: ...

    def __await__(self) -> Generator[Any, None, None]: ...


class EventLoop:
    """One running event loop, as abortkit uses it. Made by ``current_loop()`` only."""

    __slots__ = ("__weakref__", "_armed", "_pending")

    name = "?"
    #: True if ``race``/``sleep`` stop at the abort; False if they only run the awaitable.
    can_race = False

    def __init__(self) -> None:
        self._pending: deque[Callable[[], object]] = deque()
        self._armed: dict[str, object] = {}

    # -- from any thread ----------------------------------------------------------------
    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Run ``callback`` on the loop soon; from any thread. False if the loop is gone."""
        self._pending.append(callback)
        mine = object()
        if self._armed.setdefault("armed", mine) is mine:
            try:
                self._schedule(self._drain)
            except RuntimeError:  # loop closed (or freed): nothing left to wake
                self._armed.clear()
                self._pending.clear()
                return False
        return True

    def _drain(self) -> None:
        self._armed.clear()
        pending = self._pending
        while pending:
            try:
                callback = pending.popleft()
            except IndexError:
                break
            try:
                callback()
            except Exception:
                logger.exception("abortkit loop callback %r raised", callback)

    # -- what each backend provides -----------------------------------------------------
    def _schedule(self, callback: Callable[[], None]) -> None:
        """Thread-safe "run this on the loop"; RuntimeError once the loop is gone."""
        raise NotImplementedError

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> Task:
        """Start ``factory()`` as a task of this loop; call on the loop's own thread.

        It needs no nursery and never raises into the caller's task: await the returned
        ``Task`` to learn its end (it raises what the task raised)."""
        raise NotImplementedError

    def new_event(self) -> Event:
        """A new event of this loop (one task sets it, others wait)."""
        raise NotImplementedError

    async def race(self, signals: tuple[AbortSignal, ...], operation: Awaitable[T]) -> T:
        """Await ``operation``; if one of ``signals`` trips first, stop it and raise
        ``AbortUnwind`` (only when ``can_race``; otherwise just await it)."""
        return await operation

    async def sleep(self, signals: tuple[AbortSignal, ...], seconds: float) -> None:
        """Sleep ``seconds``, or until one of ``signals`` trips (then ``AbortUnwind``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<abortkit EventLoop {self.name}>"


class _AsyncioLoop(EventLoop):
    __slots__ = ("_loop",)

    name = "asyncio"
    can_race = True

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._loop = weakref.ref(loop)

    def _running(self) -> asyncio.AbstractEventLoop:
        loop = self._loop()
        if loop is None:
            raise RuntimeError("the event loop is gone")
        return loop

    def _schedule(self, callback: Callable[[], None]) -> None:
        self._running().call_soon_threadsafe(callback)

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> Task:
        return self._running().create_task(factory())

    def new_event(self) -> Event:
        return asyncio.Event()

    async def race(self, signals: tuple[AbortSignal, ...], operation: Awaitable[T]) -> T:
        """Await ``operation`` in a child task that an abort (from any thread) cancels."""
        task = asyncio.ensure_future(operation)
        watch = Watch(signals, lambda: self.call_soon(task.cancel))
        try:
            return await task
        except asyncio.CancelledError as exc:
            watch.raise_if_tripped(exc)  # our cancel: an abort; otherwise the caller's
            raise
        finally:
            watch.stop()

    async def sleep(self, signals: tuple[AbortSignal, ...], seconds: float) -> None:
        await self.race(signals, asyncio.sleep(seconds))


class _TrioLoop(EventLoop):
    __slots__ = ("_token", "_trio")

    name = "trio"

    def __init__(self, trio: Any, token: Any) -> None:
        super().__init__()
        self._trio = trio
        self._token = weakref.ref(token)

    def _schedule(self, callback: Callable[[], None]) -> None:
        token = self._token()
        if token is None:
            raise RuntimeError("the trio run is gone")
        token.run_sync_soon(callback)  # trio.RunFinishedError is a RuntimeError

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> Task:
        return _TrioTask(self._trio, factory)

    def new_event(self) -> Event:
        event: Event = self._trio.Event()
        return event

    async def sleep(self, signals: tuple[AbortSignal, ...], seconds: float) -> None:
        await self._trio.sleep(seconds)


class _TrioTask:
    """A trio system task that can be awaited and cancelled (trio's own ``Task`` cannot).

    A system task needs no nursery from the caller, and the caller's exceptions are never
    wrapped in an ``ExceptionGroup``. One that raised would crash the whole run, so an
    ``Exception`` is kept and raised to whoever awaits the task instead. ``cancel()``
    cancels its scope, which trio honours even before the task has entered it.
    """

    __slots__ = ("_done", "_error", "_scope")

    def __init__(self, trio: Any, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._done = trio.Event()
        self._error: Exception | None = None
        self._scope = trio.CancelScope()
        trio.lowlevel.spawn_system_task(self._run, factory)

    async def _run(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            with self._scope:
                await factory()
        except Exception as exc:
            self._error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        self._scope.cancel()

    async def _join(self) -> None:
        await self._done.wait()
        if self._error is not None:
            raise self._error

    def __await__(self) -> Generator[Any, None, None]:
        return self._join().__await__()


def running_loop() -> EventLoop | None:
    """The ``EventLoop`` of the loop running the caller, or None outside any we know."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        found = _loops.get(loop)
        if found is None:
            found = _loops[loop] = _AsyncioLoop(loop)
        return found
    trio = sys.modules.get("trio")  # never imported by us: only if the caller uses trio
    if trio is not None:
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:
            return None
        found = _loops.get(token)
        if found is None:
            found = _loops[token] = _TrioLoop(trio, token)
        return found
    return None


def current_loop(what: str = "async with close_on_abort(...)") -> EventLoop:
    """The ``EventLoop`` of the loop running the caller; RuntimeError naming ``what``
    (the caller) outside one."""
    loop = running_loop()
    if loop is None:
        raise RuntimeError(f"{what} needs a running asyncio or trio event loop")
    return loop
