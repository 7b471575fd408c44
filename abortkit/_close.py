"""``close_on_abort``: wake a consumer blocked reading a response, the moment the signal trips.

Sequence and races (sync ``with``)
----------------------------------
1. enter: guard the connection, open an ``abort_scope``, register the listener.
   ``add_listener`` runs the listener at once if the signal has already tripped (that
   is the "recheck": no abort can fall between a check and the registration), and
   then enter raises ``AbortError`` before the body runs.
2. abort, on the aborting thread: shut the socket down (the blocked ``recv`` returns
   within a millisecond). The guard makes it a no-op once the consumer has released
   the connection, so a connection the pool already handed to another request is
   never touched. The close itself is left to the consumer's thread (exit): closing
   from the aborting thread frees the file descriptor while the consumer may be about
   to read it, and a new connection can get the same number (found by the pool-race
   stress test). Only when there is no socket to shut down (HTTP/2, or an object that
   is not an HTTP response) does the aborting thread close, since nothing else wakes
   the consumer.
3. exit, on the consumer thread: detach the listener. If the listener is running on
   another thread, wait for it: once exit returns it is not running and never will.
   Then translate: an ``Exception`` leaving the block while the signal is aborted
   becomes ``AbortError`` chained from it; ``KeyboardInterrupt``, ``SystemExit`` and
   ``CancelledError`` pass unchanged.

The block ending normally after the signal tripped
--------------------------------------------------
Decided like trio's cancel scopes: what matters is whether the abort *interrupted*
the response. If it did (the listener found the response live and shut it down), the
result of the block may be truncated, and exit raises ``AbortError``: a truncated
answer must never look complete. If the response had already been released when the
signal tripped (the stream ended normally, then the user pressed ESC), the result is
complete and exit returns normally. ``interrupted`` tells which happened. For objects
with no HTTP response to inspect, any abort during the block counts as interrupting.

Async (``async with``)
----------------------
The aborting thread decides whether the abort interrupts the response (was it still
live?) exactly as in the sync case, and schedules the interruption on the consumer's
loop (batched with every other stream of that loop, see ``_eventloop.py``); there the
socket is shut down and ``aclose()`` started, and exit awaits it. An interruption
scheduled but not yet run when exit runs is dropped (exit closes the response
itself): after exit, nothing of ours runs.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Generic, TypeVar

from . import _scope
from ._errors import AbortError
from ._eventloop import EventLoop, current_loop
from ._responses import NO_SOCKET, RELEASED, ConnectionGuard, Target, resolve_target
from ._scope import check_signal
from ._signal import AbortSignal, ListenerRegistration
from ._translate import as_abort_error

__all__ = ["close_on_abort"]

logger = logging.getLogger("abortkit")

R = TypeVar("R")


class close_on_abort(Generic[R]):
    """Close ``response`` (waking a blocked read) when ``signal`` trips.

    ``with close_on_abort(signal, stream) as stream:`` for sync responses,
    ``async with`` for async ones. ``signal`` may be None (then nothing is done).
    ``response``: an httpx/httpx2 ``Response``, an SDK ``Stream``/``AsyncStream``/
    ``MessageStream``/``AsyncMessageStream``, or anything with ``close()``/``aclose()``;
    anything else raises ``TypeError`` naming its type.
    """

    __slots__ = (
        "_aborted_at_entry",
        "_close_task",
        "_closed",
        "_entered",
        "_exited",
        "_guard",
        "_interrupted",
        "_loop",
        "_pushed",
        "_registration",
        "_response",
        "_signal",
        "_target",
    )

    def __init__(self, signal: AbortSignal | None, response: R) -> None:
        self._signal = check_signal(signal, "close_on_abort() signal")
        self._response = response
        self._target: Target = resolve_target(response)
        self._guard: ConnectionGuard | None = None
        self._pushed: _scope.Pushed | None = None
        self._registration: ListenerRegistration | None = None
        self._loop: EventLoop | None = None
        self._close_task: Any = None
        self._interrupted = False
        self._aborted_at_entry = False
        self._closed = False  # the sync close has been called (once is enough)
        self._entered = False
        self._exited = False

    @property
    def interrupted(self) -> bool:
        """True if the abort cut the response short (see the module docstring)."""
        return self._interrupted

    @property
    def signal(self) -> AbortSignal | None:
        return self._signal

    # -- shared ----------------------------------------------------------------------
    def _begin(self) -> None:
        if self._entered:
            raise RuntimeError("close_on_abort is single use: create one per response")
        self._entered = True
        if self._target.http_response is not None:
            self._guard = ConnectionGuard(self._target.http_response)
        # No fast-path check here: the listener must run (closing the response) first.
        if self._signal is not None:
            self._pushed = _scope.push(self._signal)

    def _interrupt(self) -> str:
        """Shut the connection down if it is still ours (see ``ConnectionGuard.shutdown``)."""
        outcome = self._guard.shutdown() if self._guard is not None else NO_SOCKET
        if outcome != RELEASED:
            self._interrupted = True
        return outcome

    def _leave_before_body(self) -> None:
        """Already aborted at entry: the body must not run, whatever the response's state."""
        self._aborted_at_entry = True

    def _finish(self, exc: BaseException | None) -> None:
        """Leave the scope, put the byte stream back, and raise what exit must raise."""
        self._exited = True
        if self._guard is not None:
            self._guard.uninstall()
        if self._pushed is not None:
            _scope.pop(self._pushed)
            self._pushed = None
        if exc is not None:
            error = as_abort_error(exc, self._signal)
            if error is not None:
                raise error from exc
        if exc is None and (self._interrupted or self._aborted_at_entry) and self._signal is not None:
            raise AbortError(self._signal.reason)

    # -- sync --------------------------------------------------------------------------
    def _on_abort_sync(self) -> None:
        # With the socket shut down, the blocked read is already woken: the close is left
        # to the consumer (exit). Closing here would free the file descriptor while the
        # consumer may still be about to read it: the kernel can hand the same number to
        # a new connection, and the consumer would then read another request's bytes.
        # With no socket to shut down, closing is the only way to wake the consumer.
        if self._interrupt() == NO_SOCKET:
            self._closed = True
            close = self._target.sync_close
            assert close is not None
            close()

    def __enter__(self) -> R:
        if self._target.is_async:
            raise TypeError(
                f"close_on_abort(): a {type(self._response).__name__} closes asynchronously; "
                "use `async with close_on_abort(...)`"
            )
        self._begin()
        if self._signal is not None:
            self._registration = self._signal.add_listener(self._on_abort_sync)
            if self._signal._aborted:  # tripped before the body: the listener has run
                self._leave_before_body()
                self.__exit__(None, None, None)
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._registration is not None:
            self._registration.remove()  # waits for a listener running on another thread
            self._registration = None  # and break the cycle registration -> bound listener -> self
        self._exited = True
        if (self._interrupted or self._aborted_at_entry) and not self._closed:
            self._closed = True
            try:
                close = self._target.sync_close
                assert close is not None
                close()  # on the consumer's thread: see _on_abort_sync
            except Exception:
                logger.debug("closing %r after an abort failed", self._response, exc_info=True)
        self._finish(exc)

    # -- async -------------------------------------------------------------------------
    def _on_abort_async(self) -> None:
        # Any thread. Decide "interrupted" now, as the sync path does (was the response
        # still live when the signal tripped?), and hand the work to the loop (batched).
        if self._guard is None or not self._guard.released:
            self._interrupted = True
            loop = self._loop
            assert loop is not None
            loop.call_soon(self._interrupt_on_loop)

    def _interrupt_on_loop(self) -> None:
        # On the loop. After exit, nothing of ours may run (exit closes it itself).
        if self._exited or self._close_task is not None or self._loop is None:
            return
        if self._guard is not None:
            self._guard.shutdown()
        self._close_task = self._loop.spawn(self._aclose)

    async def _aclose(self) -> None:
        if self._target.async_close is not None:
            await self._target.async_close()
        elif self._target.sync_close is not None:
            self._target.sync_close()

    async def __aenter__(self) -> R:
        self._loop = current_loop()
        self._begin()
        if self._signal is not None:
            self._registration = self._signal.add_listener(self._on_abort_async)
            if self._signal._aborted:  # tripped before the body: interrupt now, on this loop
                self._interrupt_on_loop()
                self._leave_before_body()
                await self.__aexit__(None, None, None)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._registration is not None:
            self._registration.remove()
            self._registration = None
        self._exited = True
        cancelled = exc is not None and not isinstance(exc, Exception)
        try:
            if self._close_task is not None:
                await self._close_task
            elif self._interrupted or cancelled:
                # Cancelled consumer: nobody will read the stream again, close it now.
                await self._aclose()
        except Exception:
            logger.debug("closing %r after an abort failed", self._response, exc_info=True)
        self._finish(exc)

    def __repr__(self) -> str:
        return f"<close_on_abort {type(self._response).__name__} signal={self._signal!r}>"
