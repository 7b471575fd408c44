"""The scope: which signals govern the I/O running in this context, and ``abort_scope``.

The waiting-for-headers phase has no response object to close, and an SDK call offers
no hook inside it. A context variable does: ``abort_scope`` (and everything built on
it: ``close_on_abort``, ``@abortable``) records the signal here, and the instrumented
network layer (:mod:`abortkit._network`) and the retry back-off (:mod:`abortkit._backoff`)
read it at every blocking read, write, connect, TLS handshake and sleep. Context
variables follow the code, not the connection: a pooled connection serving another
thread or task sees that request's scope, never ours, so an abort cannot reach a
connection already handed to someone else.

This module owns the context variable; nothing else touches it. Its small API:

* ``current()``: the signals in scope, outermost first (the hot path: one
  context-variable read, no Python frame).
* ``push(signal)`` / ``pop(pushed)``: what ``abort_scope`` and ``close_on_abort`` do on
  entry and exit. A signal already in scope is not pushed again (``close_on_abort``
  inside ``@abortable`` with the same signal is the common case): the context is left
  as it is, and every blocking call registers one listener per signal, not two.
* ``enter(signals)`` / ``restore(token)``: for the generator drivers of ``@abortable``,
  which set the scope around each resumption of the body and carry over what the
  body itself left in it (an ``abort_scope`` it opened and is still inside).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from types import TracebackType
from typing import Final

from ._errors import AbortError
from ._foreign import SignalArgument
from ._signal import AbortSignal
from ._translate import ErrorFactory, check_error_factory, final_error, leaving

__all__ = ["abort_scope", "current_signals"]

Signals = tuple[AbortSignal, ...]
Token = contextvars.Token[Signals]

_signals: contextvars.ContextVar[Signals] = contextvars.ContextVar("abortkit_signals", default=())

#: The signals in scope, outermost first. The bound method itself: the network layer
#: calls this on every read and write, and a wrapper function would add a frame to each.
current: Final[Callable[[], Signals]] = _signals.get


def current_signals() -> tuple[AbortSignal, ...]:
    """The signals of every enclosing ``abort_scope``, outermost first."""
    return _signals.get()


def including(signal: AbortSignal) -> Signals:
    """The current signals plus ``signal``; a signal already in scope is not added twice
    (every blocking call would otherwise register, and run, its listener twice)."""
    signals = _signals.get()
    return signals if signal in signals else (*signals, signal)


class _Unchanged:
    """What ``push`` returns when the signal was already in scope: nothing to undo."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<scope unchanged>"


UNCHANGED: Final = _Unchanged()
Pushed = Token | _Unchanged


def push(signal: AbortSignal) -> Pushed:
    """Put ``signal`` in scope for this context; undo with ``pop`` (same context)."""
    signals = _signals.get()
    if signal in signals:
        return UNCHANGED
    return _signals.set((*signals, signal))


def pop(pushed: Pushed) -> None:
    """Undo a ``push``."""
    if not isinstance(pushed, _Unchanged):
        _signals.reset(pushed)


def enter(signals: Signals) -> Token:
    """Make ``signals`` the scope of this context until ``restore``."""
    return _signals.set(signals)


def restore(token: Token) -> Signals:
    """Undo ``enter``; returns the signals that were in scope just before, i.e. what the
    code that ran in between left there (its own scopes still open)."""
    left = _signals.get()
    _signals.reset(token)
    return left


def check_signal(signal: object, what: str) -> AbortSignal | None:
    """Validate a native-only ``signal`` argument: an AbortSignal or None, else TypeError."""
    if signal is None or isinstance(signal, AbortSignal):
        return signal
    raise TypeError(f"{what} must be an AbortSignal or None, not {type(signal).__name__}")


class abort_scope:
    """Run a block under ``signal``: sync ``with`` and ``async with``.

    On entry, raises ``AbortError`` if the signal has already tripped (no request is
    sent). Inside, instrumented HTTP clients (:func:`abortkit.instrument`) wake from
    any blocking network call when the signal trips. On exit, an exception raised
    while the signal is aborted becomes ``AbortError`` chained from it. ``signal``
    may be None: then it does nothing; or an app's own signal (``SignalLike``, a
    ``threading.Event``, a ``Future``), followed while inside the block.
    ``error``: makes the app's own exception from the ``AbortError`` (``final_error``).
    """

    __slots__ = ("_argument", "_error", "_pushed", "_signal")

    def __init__(self, signal: object, *, error: ErrorFactory | None = None) -> None:
        self._argument = SignalArgument(signal, "abort_scope() signal")
        self._signal = self._argument.native
        self._error = check_error_factory(error, "abort_scope() error")
        self._pushed: Pushed | None = None  # None: not inside the block

    @property
    def signal(self) -> AbortSignal | None:
        """The signal governing the block (for an app's own signal: abortkit's bridge, once entered)."""
        return self._signal

    def __enter__(self) -> abort_scope:
        if self._pushed is not None:
            raise RuntimeError("abort_scope is not re-entrant: create one per block")
        signal = self._signal = self._argument.adopt(_signals.get())
        if signal is not None:
            if signal._aborted:
                self._argument.release()
                raise final_error(AbortError(signal.reason), self._error)
            self._pushed = push(signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._pushed is not None:
                pop(self._pushed)
                self._pushed = None
            if exc is not None:
                replacement = leaving(exc, self._signal, self._error)
                if replacement is not None:
                    raise replacement
        finally:
            self._argument.release()

    async def __aenter__(self) -> abort_scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
