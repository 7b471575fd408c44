"""``abortable_iter``: the in-loop check.

A closed socket stops the *next* read, but chunks the SDK already buffered (an SSE
decoder holds several events after one ``recv``) would still be handed over after the
abort. The check runs before each item is handed to the consumer, so items received
before the abort are delivered and none after. A stream that stops because of the
abort raises ``AbortError``, never ends quietly: a truncated stream must not look
complete. Cost: one attribute read per item.

Closing on an early stop: if the source is the object of an enclosing ``close_on_abort``
block (the providers' ``with close_on_abort(signal, stream): for ... in
abortable_iter(stream, signal)``), it is closed through that block's
``ConnectionGuard``, the one closer of that object: closed once, on the consumer's
thread or loop, and never concurrently with a close the abort has started.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar, overload

from . import _scope
from ._detach import DEFAULT_BUFFER, detached_iter
from ._errors import AbortError
from ._foreign import SignalArgument
from ._responses import guard_of
from ._translate import ErrorFactory, check_error_factory, final_error, leaving

__all__ = ["abortable_iter"]

T = TypeVar("T")
logger = logging.getLogger("abortkit")


@overload
def abortable_iter(
    iterable: Iterable[T],
    signal: object,
    *,
    detach: bool = False,
    buffer: int = DEFAULT_BUFFER,
    error: ErrorFactory | None = None,
) -> Iterator[T]: ...
@overload
def abortable_iter(
    iterable: AsyncIterable[T],
    signal: object,
    *,
    detach: bool = False,
    buffer: int = DEFAULT_BUFFER,
    error: ErrorFactory | None = None,
) -> AsyncIterator[T]: ...
def abortable_iter(
    iterable: Any,
    signal: object,
    *,
    detach: bool = False,
    buffer: int = DEFAULT_BUFFER,
    error: ErrorFactory | None = None,
) -> Any:
    """Iterate ``iterable`` (sync or async) until it ends or ``signal`` trips.

    Raises ``AbortError`` when the signal trips (including when the source ends or
    fails after the abort), and closes the source (``close``/``aclose``) whenever it
    stops before its end. ``signal`` may be None (plain iteration). An object that is
    both sync and async iterable is iterated synchronously.

    ``detach=True`` (sync iterables): for a producer that nothing can wake (a
    generator blocked in a call abortkit cannot reach), iterate it on a helper thread,
    at most ``buffer`` items ahead; on the abort the consumer leaves at once and the
    helper is abandoned: its late items are dropped and it closes the source when the
    source lets it (``_detach.py``).

    ``signal`` may also be an app's own signal (``SignalLike``, a ``threading.Event``, a
    ``Future``), followed while the iteration runs; ``error`` makes the app's own
    exception from the ``AbortError`` (see ``abort_scope``).
    """
    argument = SignalArgument(signal, "abortable_iter() signal")
    factory = check_error_factory(error, "abortable_iter() error")
    plain = signal is None
    if detach is not True and detach is not False:
        raise TypeError(f"abortable_iter() detach must be a bool, not {type(detach).__name__}")
    if isinstance(buffer, bool) or not isinstance(buffer, int):
        raise TypeError(f"abortable_iter() buffer must be an int, not {type(buffer).__name__}")
    if buffer < 1:
        raise ValueError(f"abortable_iter() buffer must be at least 1, not {buffer}")
    if detach:
        if not hasattr(iterable, "__iter__"):
            raise TypeError(
                "abortable_iter(detach=True) takes a sync iterable: an async producer is woken by "
                f"cancelling its task, not walked away from (got {type(iterable).__name__})"
            )
        return iter(iterable) if plain else detached_iter(iterable, argument, buffer, factory)
    if hasattr(iterable, "__iter__"):
        return iter(iterable) if plain else _sync(iterable, argument, factory)
    if hasattr(iterable, "__aiter__"):
        return aiter(iterable) if plain else _async(iterable, argument, factory)
    raise TypeError(f"abortable_iter() needs an iterable or async iterable, not {type(iterable).__name__}")


def _sync(source: Iterable[T], argument: SignalArgument, factory: ErrorFactory | None) -> Iterator[T]:
    signal = argument.adopt(_scope.current())  # at the first next(): nothing to undo before
    assert signal is not None
    iterator = iter(source)
    complete = False
    try:
        for item in iterator:
            if signal._aborted:
                break
            yield item
        complete = not signal._aborted
    except BaseException as exc:
        replacement = leaving(exc, signal, factory)
        if replacement is not None:
            raise replacement from replacement.__cause__  # as leaving() chained it
        raise
    finally:
        if not complete:
            _close_sync(source, iterator)
        argument.release()
    if not complete:
        raise final_error(AbortError(signal.reason), factory)


async def _async(source: AsyncIterable[T], argument: SignalArgument, factory: ErrorFactory | None) -> AsyncIterator[T]:
    signal = argument.adopt(_scope.current())
    assert signal is not None
    iterator = aiter(source)
    complete = False
    try:
        async for item in iterator:
            if signal._aborted:
                break
            yield item
        complete = not signal._aborted
    except BaseException as exc:
        replacement = leaving(exc, signal, factory)
        if replacement is not None:
            raise replacement from replacement.__cause__  # as leaving() chained it
        raise
    finally:
        if not complete:
            await _close_async(source, iterator)
        argument.release()
    if not complete:
        raise final_error(AbortError(signal.reason), factory)


def _close_sync(source: object, iterator: object) -> None:
    guard = guard_of(source)
    if guard is not None and guard.closes_synchronously:
        close: Any = guard.close
    else:
        close = getattr(source, "close", None) or getattr(iterator, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # the abort (or the consumer's own error) is what the caller needs
            logger.debug("closing %r after an early stop failed", source, exc_info=True)


async def _close_async(source: object, iterator: object) -> None:
    guard = guard_of(source)
    if guard is not None:
        try:
            await guard.aclose()  # waits for a close the abort started; once closed, nothing
        except Exception:
            logger.debug("closing %r after an early stop failed", source, exc_info=True)
        return
    for owner in (source, iterator):
        close = getattr(owner, "aclose", None) or getattr(owner, "close", None)
        if callable(close):
            try:
                result = close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.debug("closing %r after an early stop failed", owner, exc_info=True)
            return
