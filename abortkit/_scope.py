"""``abort_scope``: which signals govern the I/O running in this context.

The waiting-for-headers phase has no response object to close, and an SDK call offers
no hook inside it. A context variable does: ``abort_scope`` (and everything built on
it: ``close_on_abort``, ``@abortable``) records the signal here, and the instrumented
network layer (:mod:`abortkit._network`) reads it at every blocking read, write,
connect and TLS handshake. Context variables follow the code, not the connection: a
pooled connection serving another thread or task sees that request's scope, never
ours, so an abort cannot reach a connection already handed to someone else.
"""

from __future__ import annotations

import contextvars
from types import TracebackType

from ._errors import AbortError
from ._signal import AbortSignal
from ._translate import as_abort_error

__all__ = ["abort_scope", "current_signals"]

_current: contextvars.ContextVar[tuple[AbortSignal, ...]] = contextvars.ContextVar(
    "abortkit_signals", default=()
)


def current_signals() -> tuple[AbortSignal, ...]:
    """The signals of every enclosing ``abort_scope``, outermost first."""
    return _current.get()


def with_signal(signal: AbortSignal) -> tuple[AbortSignal, ...]:
    """The current signals plus ``signal``; a signal already in scope is not added twice
    (every blocking call would otherwise register, and run, its listener twice)."""
    signals = _current.get()
    return signals if signal in signals else (*signals, signal)


def check_signal(signal: object, what: str) -> AbortSignal | None:
    """Validate a ``signal`` argument: an AbortSignal or None, else TypeError."""
    if signal is None or isinstance(signal, AbortSignal):
        return signal
    raise TypeError(f"{what} must be an AbortSignal or None, not {type(signal).__name__}")


class abort_scope:
    """Run a block under ``signal``: sync ``with`` and ``async with``.

    On entry, raises ``AbortError`` if the signal has already tripped (no request is
    sent). Inside, instrumented HTTP clients (:func:`abortkit.instrument`) wake from
    any blocking network call when the signal trips. On exit, an exception raised
    while the signal is aborted becomes ``AbortError`` chained from it. ``signal``
    may be None: then it does nothing.
    """

    __slots__ = ("_signal", "_token")

    def __init__(self, signal: AbortSignal | None) -> None:
        self._signal = check_signal(signal, "abort_scope() signal")
        self._token: contextvars.Token[tuple[AbortSignal, ...]] | None = None

    @property
    def signal(self) -> AbortSignal | None:
        return self._signal

    def __enter__(self) -> abort_scope:
        if self._signal is not None:
            self._signal.throw_if_aborted()
        self._push()
        return self

    def _push(self) -> None:
        signal = self._signal
        if signal is not None:
            if self._token is not None:
                raise RuntimeError("abort_scope is not re-entrant: create one per block")
            self._token = _current.set(with_signal(signal))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
        if exc is not None:
            error = as_abort_error(exc, self._signal)
            if error is not None:
                raise error from exc

    async def __aenter__(self) -> abort_scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def raise_if_aborted(signal: AbortSignal | None, partial: object = None) -> None:
    """The recheck after a body returned: a result produced under a tripped signal may
    be truncated, so it travels as ``AbortError.partial`` instead of as a result."""
    if signal is not None and signal._aborted:
        raise AbortError(signal.reason, partial=partial)
