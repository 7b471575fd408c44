"""Running a callback on the consumer's event loop, from whichever thread aborts.

An async response must be closed by the loop that owns it (its streams are not
thread safe), but the abort may come from a UI thread, a signal handler or a timer.
``LoopHandle`` captures the running loop at ``async with`` entry and schedules work
on it thread-safely: asyncio through ``call_soon_threadsafe``, trio (when the
consumer runs under trio) through its trio token.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LoopHandle"]


class LoopHandle:
    __slots__ = ("_schedule", "_spawn")

    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], None],
        spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], Any],
    ) -> None:
        self._schedule = schedule
        self._spawn = spawn

    @classmethod
    def capture(cls) -> LoopHandle:
        """The handle of the loop running the caller; RuntimeError outside one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            running = loop

            def schedule(callback: Callable[[], None]) -> None:
                running.call_soon_threadsafe(callback)

            return cls(schedule, lambda factory: running.create_task(factory()))
        trio = sys.modules.get("trio")
        if trio is not None:
            try:
                token = trio.lowlevel.current_trio_token()
            except RuntimeError:
                token = None
            if token is not None:
                return cls(token.run_sync_soon, trio.lowlevel.spawn_system_task)
        raise RuntimeError("async with close_on_abort(...) needs a running asyncio or trio event loop")

    def call_soon(self, callback: Callable[[], None]) -> bool:
        """Schedule ``callback`` on the loop from any thread; False if the loop is gone."""
        try:
            self._schedule(callback)
        except RuntimeError:  # loop closed: nothing left to wake
            return False
        return True

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> Any:
        """Start ``factory()`` as a task; call on the loop's own thread."""
        return self._spawn(factory)
