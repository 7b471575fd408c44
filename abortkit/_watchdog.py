"""``IdleWatchdog``: abort a stream that has gone silent, judged by bytes, not events.

The Anthropic SDK drops ``ping`` events, so a watchdog fed by typed SDK events sees
nothing during a long "thinking" phase and kills healthy streams. Pings are still
bytes on the socket: the instrumented network layer reports every successful read to
the watchdogs of the current context, and only a real silence trips one.

The watchdog owns a child ``AbortController`` of the caller's signal: the user's
abort stops it too, but its own timeout does not abort the caller's signal, so a
provider can tell "user pressed ESC" (``parent.aborted``) from "stream went idle"
(``timed_out``) and retry only the latter.
"""

from __future__ import annotations

import contextvars
import time
from types import TracebackType

from ._signal import AbortController, AbortSignal
from ._timer import TimerHandle, call_later
from ._validate import seconds as check_seconds

__all__ = ["IdleTimeoutError", "IdleWatchdog", "report_progress"]

_watchdogs: contextvars.ContextVar[tuple[IdleWatchdog, ...]] = contextvars.ContextVar(
    "abortkit_watchdogs", default=()
)


class IdleTimeoutError(TimeoutError):
    """The abort reason of an ``IdleWatchdog`` that saw no bytes for its timeout."""


def report_progress() -> None:
    """Tell the watchdogs of the current context that bytes arrived (network layer)."""
    for watchdog in _watchdogs.get():
        watchdog.touch()


class IdleWatchdog:
    """``with IdleWatchdog(seconds, parent=signal) as dog:`` then use ``dog.signal``.

    ``dog.signal`` aborts when ``parent`` does, or with an ``IdleTimeoutError`` reason
    when no bytes have arrived for ``idle_timeout`` seconds inside the block.
    """

    __slots__ = ("_active", "_controller", "_handle", "_idle_timeout", "_last", "_token")

    _active: bool
    _controller: AbortController
    _handle: TimerHandle | None
    _idle_timeout: float
    _last: float
    _token: contextvars.Token[tuple[IdleWatchdog, ...]] | None

    def __init__(self, idle_timeout: float, *, parent: AbortSignal | None = None) -> None:
        value = check_seconds("IdleWatchdog idle_timeout", idle_timeout, positive=True, finite=True)
        if parent is not None and not isinstance(parent, AbortSignal):
            raise TypeError(f"IdleWatchdog parent must be an AbortSignal or None, not {type(parent).__name__}")
        self._idle_timeout = value
        self._controller = AbortController(parent=parent)
        self._last = time.monotonic()
        self._active = False
        self._handle = None
        self._token = None

    @property
    def signal(self) -> AbortSignal:
        return self._controller.signal

    @property
    def timed_out(self) -> bool:
        return isinstance(self._controller.signal.reason, IdleTimeoutError)

    def touch(self) -> None:
        self._last = time.monotonic()

    def _check(self) -> None:
        if not self._active:
            return
        remaining = self._last + self._idle_timeout - time.monotonic()
        if remaining > 0:
            self._handle = call_later(remaining, self._check)
        else:
            self._controller.abort(IdleTimeoutError(f"no bytes received for {self._idle_timeout:g} s"))

    def __enter__(self) -> IdleWatchdog:
        if self._token is not None:
            raise RuntimeError("IdleWatchdog is not re-entrant")
        self._active = True
        self._last = time.monotonic()
        self._token = _watchdogs.set((*_watchdogs.get(), self))
        self._handle = call_later(self._idle_timeout, self._check)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active = False
        if self._handle is not None:
            self._handle.cancel()
        if self._token is not None:
            _watchdogs.reset(self._token)
            self._token = None

    async def __aenter__(self) -> IdleWatchdog:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
