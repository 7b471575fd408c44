"""``IdleWatchdog``: abort a stream that has gone silent, judged by bytes, not events.

The Anthropic SDK drops ``ping`` events, so a watchdog fed by typed SDK events sees
nothing during a long "thinking" phase and kills healthy streams. Pings are still
bytes on the socket: the instrumented network layer reports every successful read to
the watchdogs of the current context, and only a real silence trips one. Where the
keep-alive bytes must *not* count (a deadline on content: "no token for 90 s"),
``count_bytes=False`` ignores them and only ``note_progress()`` counts.

The watchdog owns a child ``AbortController`` of the caller's signal: the user's
abort stops it too, but its own timeout does not abort the caller's signal, so a
provider can tell "user pressed ESC" (``parent.aborted``) from "stream went idle"
(``timed_out``) and retry only the latter.

Deadlines real agents use, in one object: a grace period before the first progress
(``first_timeout``: 300 s for the model to start) then a shorter idle timeout
(``idle_timeout``: 90 s between events), re-armed at will (``set_timeout``), disabled
with ``None``; a hook after a quiet time (``on_quiet``: "still waiting..." at half
time); the app's own exception as the reason (``error``).

Threads: ``note_progress`` (any thread) only stores a time; the checks run on the
shared timer's workers. Each arming carries a generation number, so a check armed
before ``set_timeout`` or exit finds itself stale and does nothing: no lock needed.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from types import TracebackType

from . import _scope
from ._foreign import SignalArgument
from ._signal import AbortController, AbortSignal
from ._timer import TimerHandle, call_later
from ._validate import seconds as check_seconds

__all__ = ["IdleTimeoutError", "IdleWatchdog", "report_progress"]

logger = logging.getLogger("abortkit")

_watchdogs: contextvars.ContextVar[tuple[IdleWatchdog, ...]] = contextvars.ContextVar(
    "abortkit_watchdogs", default=()
)


class IdleTimeoutError(TimeoutError):
    """The abort reason of an ``IdleWatchdog`` that saw no progress for its timeout."""


def report_progress() -> None:
    """Tell the watchdogs of the current context that bytes arrived (network layer)."""
    for watchdog in _watchdogs.get():
        watchdog._bytes_arrived()


def _optional_timeout(what: str, value: object) -> float | None:
    if value is None:
        return None
    return check_seconds(what, value, positive=True, finite=True)


class IdleWatchdog:
    """``with IdleWatchdog(seconds, parent=signal) as dog:`` then use ``dog.signal``.

    ``dog.signal`` aborts when ``parent`` does, or with an ``IdleTimeoutError`` reason
    (or what ``error`` made of it) when there was no progress for the timeout inside the
    block. Progress: bytes read by an instrumented client in this context (unless
    ``count_bytes=False``) and every ``note_progress()``.

    ``idle_timeout``: seconds of silence allowed; ``None`` disables the timeout (the
    watchdog then only follows ``parent``). ``first_timeout``: the silence allowed before
    the first progress, if different. ``on_quiet``: called (on a timer thread, with the
    seconds of silence so far) once per silence that lasts ``quiet_after`` seconds
    (default: half the timeout in force). ``error``: called with the
    ``IdleTimeoutError``; returns the exception to use as the abort reason instead.
    """

    __slots__ = (
        "_active",
        "_controller",
        "_count_bytes",
        "_error",
        "_first_timeout",
        "_generation",
        "_handle",
        "_idle_timeout",
        "_last",
        "_on_quiet",
        "_parent",
        "_progressed",
        "_quiet_after",
        "_quiet_reported",
        "_reason",
        "_token",
    )

    _handle: TimerHandle | None
    _token: contextvars.Token[tuple[IdleWatchdog, ...]] | None

    def __init__(
        self,
        idle_timeout: float | None,
        *,
        parent: object = None,
        first_timeout: float | None = None,
        count_bytes: bool = True,
        on_quiet: Callable[[float], object] | None = None,
        quiet_after: float | None = None,
        error: Callable[[IdleTimeoutError], BaseException] | None = None,
    ) -> None:
        self._idle_timeout = _optional_timeout("IdleWatchdog idle_timeout", idle_timeout)
        self._first_timeout = _optional_timeout("IdleWatchdog first_timeout", first_timeout)
        self._quiet_after = _optional_timeout("IdleWatchdog quiet_after", quiet_after)
        self._parent = SignalArgument(parent, "IdleWatchdog parent")
        if count_bytes is not True and count_bytes is not False:
            raise TypeError(f"IdleWatchdog count_bytes must be a bool, not {type(count_bytes).__name__}")
        if on_quiet is not None and not callable(on_quiet):
            raise TypeError(f"IdleWatchdog on_quiet must be callable or None, not {type(on_quiet).__name__}")
        if quiet_after is not None and on_quiet is None:
            raise ValueError("IdleWatchdog quiet_after needs an on_quiet callback")
        if error is not None and not callable(error):
            raise TypeError(f"IdleWatchdog error must be callable or None, not {type(error).__name__}")
        self._count_bytes = count_bytes
        self._on_quiet = on_quiet
        self._error = error
        # An app's own parent signal is followed while the block runs (adopted at entry).
        self._controller = AbortController(parent=self._parent.native)
        self._last = time.monotonic()
        self._progressed = False
        self._quiet_reported = False
        self._reason: BaseException | None = None  # the one this watchdog aborted with, if it tried
        self._active = False
        self._generation = 0
        self._handle = None
        self._token = None

    @property
    def signal(self) -> AbortSignal:
        return self._controller.signal

    @property
    def timed_out(self) -> bool:
        """True if the watchdog's own timeout (not the parent) aborted ``signal``."""
        signal = self._controller.signal
        return signal.aborted and self._reason is not None and signal.reason is self._reason

    @property
    def timeout(self) -> float | None:
        """The silence allowed now: ``first_timeout`` until the first progress, if set."""
        if not self._progressed and self._first_timeout is not None:
            return self._first_timeout
        return self._idle_timeout

    # -- progress ------------------------------------------------------------------------
    def note_progress(self) -> None:
        """Progress: the silence starts again from now. Any thread; costs a clock read."""
        self._last = time.monotonic()
        self._quiet_reported = False
        if not self._progressed:
            self._progressed = True
            if self._first_timeout is not None and self._active:
                self._arm()  # the (usually shorter) idle timeout applies from now on

    touch = note_progress  # the name before 0.2; kept

    def _bytes_arrived(self) -> None:
        if self._count_bytes:
            self.note_progress()

    def set_timeout(self, idle_timeout: float | None) -> None:
        """Use ``idle_timeout`` from now on (``None``: no timeout), counted from the last
        progress; takes effect at once, inside or outside the block."""
        self._idle_timeout = _optional_timeout("IdleWatchdog.set_timeout() idle_timeout", idle_timeout)
        if self._active:
            self._arm()

    # -- the checks (timer threads) ------------------------------------------------------
    def _arm(self) -> None:
        """Schedule the next check; any check armed before is stale from now on."""
        self._generation += 1
        generation = self._generation
        previous = self._handle
        delay = self._next_check_in(time.monotonic())
        self._handle = None if delay is None else call_later(delay, lambda: self._check(generation))
        if previous is not None:
            previous.cancel()

    def _quiet_threshold(self) -> float | None:
        if self._on_quiet is None:
            return None
        if self._quiet_after is not None:
            return self._quiet_after
        timeout = self.timeout
        return None if timeout is None else timeout / 2

    def _next_check_in(self, now: float) -> float | None:
        silence = now - self._last
        waits = []
        timeout = self.timeout
        if timeout is not None:
            waits.append(timeout - silence)
        quiet = self._quiet_threshold()
        if quiet is not None and not self._quiet_reported:
            waits.append(quiet - silence)
        return max(0.0, min(waits)) if waits else None

    def _check(self, generation: int) -> None:
        if not self._active or generation != self._generation or self.signal.aborted:
            return
        now = time.monotonic()
        silence = now - self._last
        timeout = self.timeout
        if timeout is not None and silence >= timeout:
            self._time_out(timeout)
            return
        quiet = self._quiet_threshold()
        if quiet is not None and not self._quiet_reported and silence >= quiet:
            self._quiet_reported = True
            try:
                assert self._on_quiet is not None
                self._on_quiet(silence)
            except Exception:  # the timeout's own check must still be armed below
                logger.exception("IdleWatchdog on_quiet %r raised", self._on_quiet)
        if generation == self._generation:
            delay = self._next_check_in(time.monotonic())
            self._handle = None if delay is None else call_later(delay, lambda: self._check(generation))

    def _time_out(self, timeout: float) -> None:
        what = "bytes received" if self._count_bytes else "progress"
        idle = IdleTimeoutError(f"no {what} for {timeout:g} s")
        reason: BaseException = idle
        if self._error is not None:
            try:
                made = self._error(idle)
                if not isinstance(made, BaseException):
                    raise TypeError(f"IdleWatchdog error= must return an exception, not {type(made).__name__}")
                reason = made
            except Exception:  # the timeout must still abort: with the plain IdleTimeoutError
                logger.exception("IdleWatchdog error= %r failed; aborting with %r", self._error, idle)
        self._reason = reason
        self._controller.abort(reason)

    # -- the block -----------------------------------------------------------------------
    def __enter__(self) -> IdleWatchdog:
        if self._token is not None:
            raise RuntimeError("IdleWatchdog is not re-entrant")
        foreign = self._parent.native is None and self._parent.value is not None
        bridge = self._parent.adopt(_scope.current())
        if foreign and bridge is not None:
            self._controller.signal._follow((bridge,))
        self._active = True
        self._last = time.monotonic()
        self._token = _watchdogs.set((*_watchdogs.get(), self))
        self._arm()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        self._generation += 1
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._token is not None:
            _watchdogs.reset(self._token)
            self._token = None
        self._parent.release()

    async def __aenter__(self) -> IdleWatchdog:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
