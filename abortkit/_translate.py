"""The one place that decides whether an exception means "aborted".

The SDKs raise a different exception for the same abort depending on SDK, transport
and phase (``APIConnectionError``, ``ReadError: Bad file descriptor``,
``RemoteProtocolError``, ``SSLEOFError``...). Only the signal's state says reliably
that it was an abort, so every abortkit boundary asks this module.
"""

from __future__ import annotations

from ._errors import AbortError, AbortUnwind
from ._signal import AbortSignal

__all__ = ["as_abort_error"]


def as_abort_error(exc: BaseException, signal: AbortSignal | None) -> AbortError | None:
    """The ``AbortError`` to raise instead of ``exc``, or None to let ``exc`` pass.

    * ``AbortError`` passes unchanged (it is already the answer).
    * ``AbortUnwind`` (raised by the network layer) always becomes ``AbortError``.
    * Any other ``Exception`` becomes ``AbortError`` iff ``signal`` has aborted.
    * ``BaseException`` that is not an ``Exception`` (KeyboardInterrupt, SystemExit,
      asyncio.CancelledError, GeneratorExit) always passes: they have their own meaning.
    """
    if isinstance(exc, AbortError):
        return None
    if isinstance(exc, AbortUnwind):
        error = AbortError(exc.reason)
    elif isinstance(exc, Exception) and signal is not None and signal._aborted:
        error = AbortError(signal.reason)
    else:
        return None
    error.__cause__ = exc
    return error
