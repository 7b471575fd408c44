"""The one place that decides whether an exception means "aborted".

The SDKs raise a different exception for the same abort depending on SDK, transport
and phase (``APIConnectionError``, ``ReadError: Bad file descriptor``,
``RemoteProtocolError``, ``SSLEOFError``...). Only the signal's state says reliably
that it was an abort, so every abortkit boundary asks this module.
"""

from __future__ import annotations

from collections.abc import Callable

from ._errors import AbortError, AbortUnwind
from ._signal import AbortSignal

__all__ = ["ErrorFactory", "as_abort_error", "check_error_factory", "final_error", "leaving"]

ErrorFactory = Callable[[AbortError], BaseException]


def as_abort_error(exc: BaseException, signal: AbortSignal | None) -> AbortError | None:
    """The ``AbortError`` to raise instead of ``exc``, or None to let ``exc`` pass.

    * ``AbortError`` passes unchanged (it is already the answer), and so does an exception
      chained from one (``raise AppAbortError(...) from abort_error``, what ``error=``
      factories make): it is the application's own answer to the abort.
    * ``AbortUnwind`` (raised by the network layer) always becomes ``AbortError``.
    * Any other ``Exception`` becomes ``AbortError`` iff ``signal`` has aborted.
    * ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, SystemExit,
      asyncio.CancelledError, GeneratorExit) always passes: they have their own meaning.
    """
    if isinstance(exc, AbortError) or isinstance(exc.__cause__, AbortError):
        return None
    if isinstance(exc, AbortUnwind):
        error = AbortError(exc.reason)
    elif isinstance(exc, Exception) and signal is not None and signal._aborted:
        error = AbortError(signal.reason)
    else:
        return None
    error.__cause__ = exc
    return error


def check_error_factory(error: object, what: str) -> ErrorFactory | None:
    """Validate an ``error=`` argument: a callable (usually the app's exception class) or None."""
    if error is None or callable(error):
        return error
    raise TypeError(f"{what} must be a callable that makes an exception from an AbortError, or None, "
                    f"not {type(error).__name__}")


def final_error(abort_error: AbortError, factory: ErrorFactory | None) -> BaseException:
    """What a boundary with ``error=factory`` raises instead of ``abort_error``.

    ``factory(abort_error)`` makes the application's own exception; it is chained from
    the ``AbortError`` and given its ``reason`` and ``partial`` unless it has them already,
    so the caller keeps both whatever class it catches.
    """
    if factory is None:
        return abort_error
    made = factory(abort_error)
    if not isinstance(made, BaseException):
        problem = TypeError(f"error= factory {factory!r} returned a {type(made).__name__}, not an exception")
        problem.__cause__ = abort_error
        return problem
    for name in ("reason", "partial"):
        if not hasattr(made, name):
            try:
                setattr(made, name, getattr(abort_error, name))
            except (AttributeError, TypeError):  # a class with __slots__: the chain still carries them
                pass
    made.__cause__ = abort_error
    return made


def leaving(exc: BaseException, signal: AbortSignal | None, factory: ErrorFactory | None) -> BaseException | None:
    """What a boundary raises instead of ``exc`` leaving it, or None to let ``exc`` pass:
    ``as_abort_error``'s answer, made into the app's exception by ``factory`` (an
    ``AbortError`` from an inner boundary too)."""
    error = as_abort_error(exc, signal)
    if error is not None:
        return final_error(error, factory)
    if factory is not None and isinstance(exc, AbortError):
        return final_error(exc, factory)
    return None
