"""Waiting for one blocking call or an abort, whichever comes first.

What the network layer, the retry back-off and the event-loop backends
(``_eventloop.py``) share: the signals come from the enclosing scope; a listener on
each wakes the wait (shuts a socket down, sets an event, cancels a task); once the
wait is over the listeners are detached (``remove()`` waits for one running on
another thread, so nothing of ours runs after ``stop()``); then, if a signal tripped,
``AbortUnwind`` replaces whatever the woken call returned or raised. Nothing here
depends on an event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._errors import AbortUnwind
from ._signal import AbortSignal, ListenerRegistration

__all__ = ["Watch", "first_tripped", "raise_if_tripped", "sleep"]


def first_tripped(signals: tuple[AbortSignal, ...]) -> AbortSignal | None:
    """The first of ``signals`` that has tripped, or None (a plain attribute read each)."""
    for signal in signals:
        if signal._aborted:
            return signal
    return None


def raise_if_tripped(signals: tuple[AbortSignal, ...], cause: BaseException | None = None) -> None:
    """Raise ``AbortUnwind`` with the reason of the first tripped signal, if any.

    The only place that raises ``AbortUnwind`` (the network layer, the back-off and the
    event-loop backends all come here)."""
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


def sleep(signals: tuple[AbortSignal, ...], seconds: float) -> None:
    """Block ``seconds``, or until one of ``signals`` trips (then ``AbortUnwind``)."""
    woken = threading.Event()
    watch = Watch(signals, woken.set)
    try:
        woken.wait(seconds)
    finally:
        watch.stop()
    watch.raise_if_tripped()
