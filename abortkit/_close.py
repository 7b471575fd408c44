"""``close_on_abort``: wake a consumer blocked reading a response, the moment the signal trips.

Its life is one explicit state (``_State``), in the manner of h11's connection states:
each step below moves it along one of the allowed transitions (``_NEXT``) and any
other move is a bug, refused with ``RuntimeError``::

    NEW --enter--> WATCHING --exit--> LEFT
                      |
                      +--abort finds the response live--> INTERRUPTED --exit--> LEFT_INTERRUPTED

Who closes is not part of that state: ``ConnectionGuard`` (``_responses.py``) is the one
place that knows whether the object has been closed (by us or by anyone, e.g.
``abortable_iter`` closing the stream on its way out) and closes it at most once.

Sequence and races (sync ``with``)
----------------------------------
1. enter (NEW -> WATCHING): guard the connection, put the signal in scope (once:
   inside ``@abortable`` with the same signal it is there already), register the
   listener. ``add_listener`` runs the listener at once if the signal has already
   tripped (that is the "recheck": no abort can fall between a check and the
   registration), and then enter raises ``AbortError`` before the body runs.
2. abort, on the aborting thread (WATCHING -> INTERRUPTED, unless the response had
   already been released): shut the socket down (the blocked ``recv`` returns within
   a millisecond). The guard makes it a no-op once the consumer has released the
   connection, so a connection the pool already handed to another request is never
   touched. The close itself is left to the consumer's thread (exit): closing from
   the aborting thread frees the file descriptor while the consumer may be about to
   read it, and a new connection can get the same number (found by the pool-race
   stress test). Only when there is no socket to shut down (HTTP/2, or an object that
   is not an HTTP response) does the aborting thread close, since nothing else wakes
   the consumer.
3. exit, on the consumer thread (-> LEFT or LEFT_INTERRUPTED): detach the listener. If
   the listener is running on another thread, wait for it: once exit returns it is
   not running and never will. So every transition the listener makes happens before
   exit reads the state, and after that only the consumer's thread moves it: the
   state needs no lock (a listener run by a signal handler on the consumer's thread
   runs to its end before exit goes on, or never). Then close (if the abort
   interrupted the response and nobody has closed it yet) and translate: an
   ``Exception`` leaving the block while the signal is aborted becomes ``AbortError``
   chained from it; ``KeyboardInterrupt``, ``SystemExit`` and ``CancelledError`` pass
   unchanged.

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
live?) exactly as in the sync case, moves to INTERRUPTED, and schedules the
interruption on the consumer's loop (batched with every other stream of that loop,
see ``_eventloop.py``). There the socket is shut down and the guard starts the close
at once, as a task of the loop: the one close of the object. ``abortable_iter``'s
``finally`` and exit do not close it again: they ask the guard, which waits for that
close. With no socket to shut down, that close is what wakes the consumer. With one,
the shutdown has woken it already, and starting the close now rather than leaving it
to the consumer takes the transport's close (anyio's ``aclose`` yields to the loop
once) off the consumer's way out: measured 50-70 us of a 1.2 ms unwind (an async
``close_on_abort`` + ``abortable_iter`` over an uninstrumented client), against one
task per stream, which counts when thousands of streams abort at once (issue 16).
Exit runs on the loop, like the scheduled interruption, so the two never interleave:
an interruption scheduled but not yet run when exit runs finds LEFT_INTERRUPTED and
does nothing; after exit, nothing of ours runs.
"""

from __future__ import annotations

import enum
import logging
from types import TracebackType
from typing import Generic, TypeVar

from . import _scope
from ._errors import AbortError
from ._eventloop import EventLoop, current_loop
from ._foreign import SignalArgument
from ._responses import NO_SOCKET, RELEASED, ConnectionGuard, Target, resolve_target
from ._signal import AbortSignal, ListenerRegistration
from ._translate import ErrorFactory, check_error_factory, final_error, leaving

__all__ = ["close_on_abort"]

logger = logging.getLogger("abortkit")

R = TypeVar("R")


class _State(enum.Enum):
    NEW = "new"  # not entered yet
    WATCHING = "watching"  # inside the block, the listener armed
    INTERRUPTED = "interrupted"  # the abort found the response live and woke its reader
    LEFT = "left"  # exited; no abort interrupted the response
    LEFT_INTERRUPTED = "left, interrupted"  # exited after an interrupting abort


_NEXT: dict[_State, frozenset[_State]] = {
    _State.NEW: frozenset({_State.WATCHING}),
    _State.WATCHING: frozenset({_State.INTERRUPTED, _State.LEFT}),
    _State.INTERRUPTED: frozenset({_State.LEFT_INTERRUPTED}),
    _State.LEFT: frozenset(),
    _State.LEFT_INTERRUPTED: frozenset(),
}


class close_on_abort(Generic[R]):
    """Close ``response`` (waking a blocked read) when ``signal`` trips.

    ``with close_on_abort(signal, stream) as stream:`` for sync responses,
    ``async with`` for async ones. ``signal`` may be None (then nothing is done).
    ``response``: an httpx/httpx2 ``Response``, an SDK ``Stream``/``AsyncStream``/
    ``MessageStream``/``AsyncMessageStream``, or anything with ``close()``/``aclose()``;
    anything else raises ``TypeError`` naming its type, unless ``missing="ignore"``
    (for test doubles and objects abortkit cannot close: the block is then only a scope,
    and an abort during it still counts as cutting it short). ``signal`` may also be an
    app's own signal (``SignalLike``, a ``threading.Event``, a ``Future``), followed
    while inside the block. ``error``: makes the app's own exception from the
    ``AbortError`` (see ``abort_scope``).
    """

    __slots__ = (
        "_argument",
        "_error",
        "_guard",
        "_loop",
        "_pushed",
        "_registration",
        "_response",
        "_signal",
        "_state",
        "_target",
    )

    def __init__(
        self,
        signal: object,
        response: R,
        *,
        error: ErrorFactory | None = None,
        missing: str = "error",
    ) -> None:
        if missing not in ("error", "ignore"):
            raise ValueError(f"close_on_abort() missing must be 'error' or 'ignore', not {missing!r}")
        self._argument = SignalArgument(signal, "close_on_abort() signal")
        self._signal = self._argument.native
        self._error = check_error_factory(error, "close_on_abort() error")
        self._response = response
        self._target: Target = resolve_target(response, lenient=missing == "ignore")
        self._guard = ConnectionGuard(self._target)
        self._state = _State.NEW
        self._pushed: _scope.Pushed | None = None
        self._registration: ListenerRegistration | None = None
        self._loop: EventLoop | None = None

    @property
    def interrupted(self) -> bool:
        """True if the abort cut the response short (see the module docstring)."""
        return self._state in (_State.INTERRUPTED, _State.LEFT_INTERRUPTED)

    @property
    def signal(self) -> AbortSignal | None:
        return self._signal

    # -- shared ----------------------------------------------------------------------
    def _move(self, to: _State) -> None:
        if to not in _NEXT[self._state]:
            raise RuntimeError(f"close_on_abort cannot go from {self._state.value!r} to {to.value!r}")
        self._state = to

    def _begin(self) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError("close_on_abort is single use: create one per response")
        self._move(_State.WATCHING)
        self._signal = self._argument.adopt(_scope.current())
        self._guard.install()
        # No fast-path check here: the listener must run (closing the response) first.
        if self._signal is not None:
            self._pushed = _scope.push(self._signal)

    def _detach(self) -> bool:
        """Exit's first step: after it, the listener is not running and never will.
        Moves to the final state; True if the abort interrupted the response."""
        if self._registration is not None:
            self._registration.remove()  # waits for a listener running on another thread
            self._registration = None  # and break the cycle registration -> bound listener -> self
        interrupted = self._state is _State.INTERRUPTED
        self._move(_State.LEFT_INTERRUPTED if interrupted else _State.LEFT)
        return interrupted

    def _finish(self, exc: BaseException | None, cut_short: bool) -> None:
        """Leave the scope, put the byte stream back, let an app's signal go, and raise
        what exit must raise."""
        self._guard.uninstall()
        if self._pushed is not None:
            _scope.pop(self._pushed)
            self._pushed = None
        self._argument.release()
        if exc is not None:
            replacement = leaving(exc, self._signal, self._error)
            if replacement is not None:
                raise replacement
        elif cut_short and self._signal is not None:
            raise final_error(AbortError(self._signal.reason), self._error)

    # -- sync --------------------------------------------------------------------------
    def _on_abort_sync(self) -> None:
        # On the aborting thread. With the socket shut down, the blocked read is already
        # woken: the close is left to the consumer (exit). Closing here would free the
        # file descriptor while the consumer may still be about to read it: the kernel
        # can hand the same number to a new connection, and the consumer would then read
        # another request's bytes. With no socket to shut down, closing is the only way
        # to wake the consumer.
        outcome = self._guard.shutdown()
        if outcome == RELEASED:
            return  # it had finished: nothing was cut short (the trio rule)
        self._move(_State.INTERRUPTED)
        if outcome == NO_SOCKET:
            self._guard.close()

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
                self._leave(None, refused=True)
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._leave(exc, refused=False)

    def _leave(self, exc: BaseException | None, *, refused: bool) -> None:
        cut_short = self._detach() or refused
        if cut_short:
            try:
                self._guard.close()  # on the consumer's thread, unless closed already: see _on_abort_sync
            except Exception:
                logger.debug("closing %r after an abort failed", self._response, exc_info=True)
        self._finish(exc, cut_short)

    # -- async -------------------------------------------------------------------------
    def _on_abort_async(self) -> None:
        # Any thread. Decide "interrupted" now, as the sync path does (was the response
        # still live when the signal tripped?), and hand the work to the loop (batched).
        if not self._guard.released:
            self._move(_State.INTERRUPTED)
            loop = self._loop
            assert loop is not None
            loop.call_soon(self._interrupt_on_loop)

    def _interrupt_on_loop(self) -> None:
        # On the loop. After exit, nothing of ours may run.
        if self._state is not _State.INTERRUPTED or self._loop is None:
            return
        if self._guard.shutdown() != RELEASED:  # the one close, started now: see the module docstring
            self._guard.start_aclose(self._loop)

    async def __aenter__(self) -> R:
        self._loop = current_loop()
        self._begin()
        if self._signal is not None:
            self._registration = self._signal.add_listener(self._on_abort_async)
            if self._signal._aborted:  # tripped before the body: interrupt now, on this loop
                self._interrupt_on_loop()
                await self._aleave(None, refused=True)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._aleave(exc, refused=False)

    async def _aleave(self, exc: BaseException | None, *, refused: bool) -> None:
        cut_short = self._detach() or refused
        # A cancelled consumer will not read the stream again either: close it now.
        cancelled = exc is not None and not isinstance(exc, Exception)
        if cut_short or cancelled:
            try:
                await self._guard.aclose()  # waits for a close already started; once closed, nothing
            except Exception:
                logger.debug("closing %r after an abort failed", self._response, exc_info=True)
        self._finish(exc, cut_short)

    def __repr__(self) -> str:
        return f"<close_on_abort {type(self._response).__name__} signal={self._signal!r}>"
