"""The SDKs' retry back-off, made abortable.

Between two attempts the openai and anthropic SDKs sleep (``time.sleep`` or
``anyio.sleep``): ``Retry-After`` up to a minute, or their own 0.5-8 s exponential
back-off. No socket is open then, so the network layer has nothing to interrupt, and
an abort would be noticed only when the sleep ends and the next attempt starts.

Both SDKs compute the delay in ``_calculate_retry_timeout`` and sleep it in
``_sleep_for_retry``. ``instrument()`` wraps these two methods on the client
instance: inside an ``abort_scope``, the first one records the delay and hands the
SDK zero (its own sleep becomes ``sleep(0)``, and its log line stays), then the
second one sleeps the recorded delay until it ends or a signal of the scope trips,
and on an abort raises ``AbortUnwind``, which the SDK does not catch: no further
attempt is made. Outside a scope, or when an SDK no longer works this way (nothing
recorded), the SDK's own sleep runs unchanged.

Under an event loop whose backend cannot race a sleep against an abort (trio, see
``_eventloop.py``) the delay is left to the SDK.

``client.copy()`` and its alias ``client.with_options()`` build a new instance, which
would not have these wrappers: they are wrapped too, and the copy is passed to
``instrument()`` (its network layer is usually the shared, already instrumented one;
a copy given its own ``http_client`` gets that one instrumented).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from . import _scope, _waiting
from ._eventloop import running_loop

__all__ = ["instrument_backoff"]

_SLEEP = "_sleep_for_retry"
_DELAY = "_calculate_retry_timeout"
_MARK = "_abortkit_backoff"
_COPIES = ("copy", "with_options")

# The delay recorded by _calculate_retry_timeout for the _sleep_for_retry call around it.
# A context variable: the client is shared by threads and tasks, each with its own retry.
_deferred: ContextVar[list[float] | None] = ContextVar("abortkit_deferred_backoff", default=None)


def instrument_backoff(client: Any, instrument_copy: Callable[[Any], Any]) -> bool:
    """Make ``client``'s retry back-off abortable; False if it has none we recognise.

    ``instrument_copy`` is applied to every copy the client makes (``instrument``).
    """
    sleep = getattr(client, _SLEEP, None)
    delay = getattr(client, _DELAY, None)
    if not callable(sleep) or not callable(delay):
        return False
    if vars(client).get(_MARK):  # idempotent
        return True
    asynchronous = inspect.iscoroutinefunction(sleep)
    setattr(client, _DELAY, _recording(delay))
    setattr(client, _SLEEP, _async_sleep(sleep) if asynchronous else _sync_sleep(sleep))
    for name in _COPIES:
        make_copy = getattr(client, name, None)
        if callable(make_copy):
            setattr(client, name, _instrumenting(make_copy, instrument_copy))
    setattr(client, _MARK, True)
    return True


def _instrumenting(make_copy: Callable[..., Any], instrument_copy: Callable[[Any], Any]) -> Callable[..., Any]:
    @functools.wraps(make_copy)
    def copy(*args: Any, **kwargs: Any) -> Any:
        return instrument_copy(make_copy(*args, **kwargs))

    return copy


def _recording(delay: Callable[..., float]) -> Callable[..., float]:
    @functools.wraps(delay)
    def calculate_retry_timeout(*args: Any, **kwargs: Any) -> float:
        seconds = delay(*args, **kwargs)
        box = _deferred.get()
        if box is None:
            return seconds
        box.append(seconds)
        return 0.0

    return calculate_retry_timeout


def _sync_sleep(sleep: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(sleep)
    def sleep_for_retry(*args: Any, **kwargs: Any) -> None:
        signals = _scope.current()
        if not signals:
            return sleep(*args, **kwargs)
        box: list[float] = []
        token = _deferred.set(box)
        try:
            sleep(*args, **kwargs)
        finally:
            _deferred.reset(token)
        _waiting.raise_if_tripped(signals)
        if box and box[0] > 0:
            _waiting.sleep(signals, box[0])
        _waiting.raise_if_tripped(signals)
        return None

    return sleep_for_retry


def _async_sleep(sleep: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(sleep)
    async def sleep_for_retry(*args: Any, **kwargs: Any) -> None:
        signals = _scope.current()
        loop = running_loop() if signals else None
        if loop is None or not loop.can_race:
            return await sleep(*args, **kwargs)  # type: ignore[no-any-return]
        box: list[float] = []
        token = _deferred.set(box)
        try:
            await sleep(*args, **kwargs)
        finally:
            _deferred.reset(token)
        _waiting.raise_if_tripped(signals)
        if box and box[0] > 0:
            await loop.sleep(signals, box[0])
        _waiting.raise_if_tripped(signals)
        return None

    return sleep_for_retry
