"""Running callbacks on the consumer's event loop, from whichever thread aborts, batched.

An async response must be closed by the loop that owns it (its streams are not
thread safe), but the abort may come from a UI thread, a signal handler or a timer.
``LoopHandle.capture()`` (on the loop's thread) returns the one handle of the running
loop; ``call_soon`` may then be called from any thread.

Why batched: one ``abort()`` may have to interrupt a thousand streams on one loop.
Scheduling each separately costs the aborting thread a syscall per stream (the
loop's self-pipe), and every syscall hands the GIL to the loop thread, which keeps it
for up to a switch interval: measured, 1,000 streams took 2.6 s. With a batch, the
aborting thread only appends to a deque, schedules the loop once, and all the
shutdowns and closes run on the loop thread, back to back.

Race analysis: ``call_soon`` appends, *then* arms the flag (an atomic
``dict.setdefault``); ``_drain`` clears the flag, *then* pops until empty. A callback
appended before the clear is popped by that drain; one appended after it re-arms
the flag and schedules a new drain. No lock: ``call_soon`` runs inside abort
listeners, which may run in a signal handler on the loop's own thread.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["LoopHandle"]

logger = logging.getLogger("abortkit")

_handles: weakref.WeakKeyDictionary[Any, LoopHandle] = weakref.WeakKeyDictionary()


class LoopHandle:
    __slots__ = ("__weakref__", "_armed", "_pending", "_schedule", "_spawn")

    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], None],
        spawn: Callable[[Callable[[], Coroutine[Any, Any, None]]], Any],
    ) -> None:
        self._schedule = schedule
        self._spawn = spawn
        self._pending: deque[Callable[[], object]] = deque()
        self._armed: dict[str, object] = {}

    @classmethod
    def capture(cls) -> LoopHandle:
        """The handle of the loop running the caller; RuntimeError outside one."""
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            handle = _handles.get(loop)
            if handle is None:
                running = loop

                def spawn(factory: Callable[[], Coroutine[Any, Any, None]]) -> Any:
                    return running.create_task(factory())

                handle = _handles[loop] = cls(loop.call_soon_threadsafe, spawn)
            return handle
        trio = sys.modules.get("trio")
        if trio is not None:
            try:
                token = trio.lowlevel.current_trio_token()
            except RuntimeError:
                token = None
            if token is not None:
                handle = _handles.get(token)
                if handle is None:
                    handle = _handles[token] = cls(token.run_sync_soon, trio.lowlevel.spawn_system_task)
                return handle
        raise RuntimeError("async with close_on_abort(...) needs a running asyncio or trio event loop")

    def call_soon(self, callback: Callable[[], object]) -> bool:
        """Run ``callback`` on the loop soon; from any thread. False if the loop is gone."""
        self._pending.append(callback)
        mine = object()
        if self._armed.setdefault("armed", mine) is mine:
            try:
                self._schedule(self._drain)
            except RuntimeError:  # loop closed: nothing left to wake
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

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> Any:
        """Start ``factory()`` as a task; call on the loop's own thread."""
        return self._spawn(factory)
