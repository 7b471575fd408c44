"""Waiting for one blocking call or an abort, whichever comes first.

What the network layer and the retry back-off share: the signals come from the
enclosing ``abort_scope``; a listener on each wakes the wait (shuts a socket down,
sets an event, cancels a task); once the wait is over the listeners are detached
(``remove()`` waits for one running on another thread, so nothing of ours runs after
``stop()``); then, if a signal tripped, ``AbortUnwind`` replaces whatever the woken
call returned or raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._errors import AbortUnwind
from ._signal import AbortSignal, ListenerRegistration

__all__ = ["Watch", "first_tripped", "race_asyncio", "raise_if_tripped", "running_asyncio"]

T = TypeVar("T")


def first_tripped(signals: tuple[AbortSignal, ...]) -> AbortSignal | None:
    """The first of ``signals`` that has tripped, or None (a plain attribute read each)."""
    for signal in signals:
        if signal._aborted:
            return signal
    return None


def raise_if_tripped(signals: tuple[AbortSignal, ...], cause: BaseException | None = None) -> None:
    """Raise ``AbortUnwind`` with the reason of the first tripped signal, if any."""
    signal = first_tripped(signals)
    if signal is not None:
        raise AbortUnwind(signal.reason) from cause


class Watch:
    """Listeners on every signal of a scope, live while one blocking call is in progress."""

    __slots__ = ("_registrations", "_signals")

    def __init__(self, signals: tuple[AbortSignal, ...], on_abort: Callable[[], object]) -> None:
        self._signals = signals
        self._registrations: list[ListenerRegistration] = []
        try:
            for signal in signals:
                self._registrations.append(signal.add_listener(on_abort))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for registration in self._registrations:
            registration.remove()

    def raise_if_tripped(self, cause: BaseException | None = None) -> None:
        raise_if_tripped(self._signals, cause)


def running_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def race_asyncio(signals: tuple[AbortSignal, ...], operation: Awaitable[T]) -> T:
    """Await ``operation`` in a child task that an abort (from any thread) cancels."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(operation)

    def cancel() -> None:
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop is closed: nothing is waiting any more
            pass

    watch = Watch(signals, cancel)
    try:
        return await task
    except asyncio.CancelledError as exc:
        watch.raise_if_tripped(exc)  # our cancel: an abort; otherwise the caller's
        raise
    finally:
        watch.stop()
