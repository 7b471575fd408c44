"""The two event-loop primitives ``abortkit.asgi`` needs, for asyncio and trio alike.

Why not anyio: ``abortkit.asgi`` is plain ASGI and must run on any ASGI server with no
dependency beyond abortkit itself (uvicorn needs no anyio; hypercorn runs on asyncio or trio).
It needs exactly two things: an event that one task sets and several await, and a background
task that it can cancel. Which loop runs is decided once per request, here.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Backend", "Event", "current_backend"]


class Event(Protocol):
    def set(self) -> None: ...

    async def wait(self) -> Any: ...


class Backend:
    """``new_event()`` and ``spawn(fn) -> cancel`` for the loop running the caller."""

    __slots__ = ("new_event", "spawn")

    def __init__(
        self,
        new_event: Callable[[], Event],
        spawn: Callable[[Callable[[], Awaitable[None]]], Callable[[], None]],
    ) -> None:
        self.new_event = new_event
        self.spawn = spawn
        """Start ``fn()`` in the background; returns a callable that cancels it (idempotent,
        and effective even before the task first runs). ``fn`` must not raise."""


def _asyncio_spawn(fn: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    async def run() -> None:
        await fn()

    task = asyncio.get_running_loop().create_task(run())

    def cancel() -> None:
        task.cancel()

    return cancel


def _trio_backend(trio: Any) -> Backend:
    def spawn(fn: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        scope = trio.CancelScope()

        async def run() -> None:
            with scope:
                await fn()

        # A system task: it needs no nursery from the caller, and the caller's exceptions are
        # never wrapped in an ExceptionGroup. ``fn`` never raises (a system task that raised
        # would crash the run); cancelling the scope before it starts is honoured on entry.
        trio.lowlevel.spawn_system_task(run)
        return scope.cancel  # type: ignore[no-any-return]

    return Backend(trio.Event, spawn)


_ASYNCIO = Backend(asyncio.Event, _asyncio_spawn)
_TRIO: list[Backend] = []


def current_backend() -> Backend:
    """The backend of the loop running the caller; RuntimeError outside asyncio and trio."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _ASYNCIO
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            if not _TRIO:
                _TRIO.append(_trio_backend(trio))
            return _TRIO[0]
    raise RuntimeError("abortkit.asgi needs a running asyncio or trio event loop")
