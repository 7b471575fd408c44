"""The bus's thread: one private event loop per bus and process, serving every caller.

Why a thread of its own rather than the caller's loop: a bus serves sync callers
(worker threads) and async ones (any number of event loops) alike, with one pair of
connections per process; none of them may be blocked by Redis, and a stop must be
delivered even while every caller is busy. Callers hand requests over with
``call_soon_threadsafe`` and wait on a ``concurrent.futures.Future`` (async callers
through ``asyncio.wrap_future``). Abort listeners of watched signals run on this
thread, as they run on the aborting thread of any ``AbortController``: keep them short
(abortkit's own only shut a socket down or queue work to the consumer's loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any

from ._engine import Engine
from ._supervisor import supervise

__all__ = ["Runner"]


class Runner:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.thread = threading.Thread(target=self._main, name="abortkit-fleet", daemon=True)
        self.thread.start()
        self._started.wait()

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        self._supervisor = loop.create_task(supervise(self.engine))
        loop.call_soon(self._started.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.thread.ident

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop (later, even when called from the loop thread:
        the engine is never re-entered from a listener it is running)."""
        try:
            if self.on_loop_thread():
                self.loop.call_soon(fn, *args)
            else:
                self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed
            raise RuntimeError("this RedisStopBus is closed") from None

    def close(self, flush_timeout: float) -> None:
        """Give queued stops up to ``flush_timeout`` to reach Redis, then stop the thread."""
        if not self.thread.is_alive():
            return
        if self.on_loop_thread():
            raise RuntimeError("RedisStopBus.close() cannot be called from the bus's own thread (an abort listener)")
        future = asyncio.run_coroutine_threadsafe(self._shutdown(flush_timeout), self.loop)
        with contextlib.suppress(concurrent.futures.CancelledError):
            future.result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()

    async def _shutdown(self, flush_timeout: float) -> None:
        engine = self.engine
        if flush_timeout > 0:  # also while reconnecting: the session may be back in time
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(engine.outbox_empty.wait(), flush_timeout)
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        engine.shut()
