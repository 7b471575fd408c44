"""Signals from elsewhere: an app's own abort signal, a ``threading.Event``, a ``Future``.

Apps that already have cancellation types (an ``AbortController``/``AbortSignal`` pair of
their own, a ``threading.Event`` set by the key handler, a ``Future`` cancelled by the
UI) pass them to abortkit as they are. At each boundary that takes a signal, abortkit
*adopts* the object for the duration of the call: it makes a private ``AbortSignal``
(the bridge) that follows it, and detaches from it on exit. The bookkeeping a bridge
needs is the one abortkit exists to own, written once here:

1. fast path: already aborted, the bridge is aborted before the call starts;
2. register a forwarding listener on the foreign object, *then* read its state again
   (an abort between the first look and the registration is caught: the foreign
   object may not run listeners added after its abort);
3. on exit, detach the listener, so nothing is left on the foreign object.

What is accepted (``SignalLike`` and the common variants), decided per kind:

* an object with ``aborted`` and ``add_listener(callback)`` and ``remove_listener(...)``
  (``reason`` optional, read when it aborts). ``add_listener``'s return value is the
  handle: if it has a ``remove()`` method that is used; otherwise
  ``remove_listener(handle)``, or ``remove_listener(callback)`` when ``add_listener``
  returned nothing (the callback-removal style). The callback accepts any arguments
  (some signals pass an event or the reason). Without ``remove_listener`` abortkit could
  not detach, so such an object is refused.
* ``threading.Event``: it has no callbacks, so a shared poller thread checks the adopted
  events every ``EVENT_POLL_SECONDS`` (2 ms) while any call follows one; the abort
  reason is ``None``.
* a ``concurrent.futures.Future`` or ``asyncio.Future``/``Task``: done means aborted
  (the reason: ``CancelledError`` if cancelled, else its exception or its result), so a
  future works as a one-shot cancel token. An asyncio future must be adopted on its
  loop's thread (asyncio futures are not thread safe). A ``concurrent.futures.Future``
  cannot remove a callback: there the released one stays, disarmed, until it completes.
* not accepted: anyio/trio ``CancelScope``. A cancel scope already cancels every await
  inside it, abortkit's async paths included (``CancelledError`` passes unchanged), so
  adopting one would only duplicate it; it has no listener API to follow it from sync
  code.

A bridge that follows the same object as one already in the current scope is not made
twice (a provider's ``@abortable`` and its ``close_on_abort`` share one).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ._signal import AbortSignal

__all__ = [
    "EVENT_POLL_SECONDS",
    "Adopted",
    "ForeignSignal",
    "SignalArgument",
    "SignalLike",
    "adopt",
    "check",
    "describe_accepted",
]

logger = logging.getLogger("abortkit")

EVENT_POLL_SECONDS = 0.002


@runtime_checkable
class SignalLike(Protocol):
    """What abortkit needs of an app's own abort signal (structural: no base class)."""

    @property
    def aborted(self) -> bool: ...

    def add_listener(self, callback: Callable[..., object], /) -> Any: ...

    def remove_listener(self, handle: Any, /) -> Any: ...


def describe_accepted(what: str, value: object) -> str:
    hint = " (pass its .signal)" if hasattr(value, "signal") and callable(getattr(value, "abort", None)) else ""
    return (
        f"{what} must be an AbortSignal, a signal-like object (aborted, add_listener, remove_listener), "
        f"a threading.Event, a Future, or None, not {type(value).__name__}{hint}"
    )


class ForeignSignal(AbortSignal):
    """The bridge: a private ``AbortSignal`` that follows one foreign object."""

    __slots__ = ("source",)

    def __init__(self, source: object) -> None:
        super().__init__()
        self.source = source


class Adopted:
    """What ``adopt`` returns: the signal to use (or None), and how to let the source go."""

    __slots__ = ("_release", "signal")

    def __init__(self, signal: AbortSignal | None, release: Callable[[], None] | None = None) -> None:
        self.signal = signal
        self._release = release

    def release(self) -> None:
        """Detach from the foreign object (idempotent; a no-op for native signals)."""
        release, self._release = self._release, None
        if release is not None:
            release()


_NATIVE_NONE = Adopted(None)


def adopt(value: object, what: str, in_scope: tuple[AbortSignal, ...] = ()) -> Adopted:
    """The signal an entry point should use for ``value``; TypeError naming ``what`` if none.

    ``in_scope``: the signals of the enclosing scopes, where an existing bridge for the
    same object is reused.
    """
    if value is None:
        return _NATIVE_NONE
    if isinstance(value, AbortSignal):
        return Adopted(value)
    for signal in in_scope:
        if isinstance(signal, ForeignSignal) and signal.source is value:
            return Adopted(signal)
    return _adopter(value, what)(value)


def check(value: object, what: str) -> None:
    """Refuse ``value`` now (TypeError naming ``what``) if ``adopt`` would: for constructors,
    which adopt only when their block is entered."""
    if value is not None and not isinstance(value, AbortSignal):
        _adopter(value, what)


def _adopter(value: object, what: str) -> Callable[[Any], Adopted]:
    if isinstance(value, threading.Event):
        return _adopt_event
    if _is_future(value):
        return _adopt_future
    if _is_cancel_scope(value):
        raise TypeError(
            f"{what}: a {type(value).__name__} is not a signal: it already cancels the awaits inside it, "
            "abortkit's included (CancelledError passes unchanged); pass an AbortSignal to abort sync code too"
        )
    add = getattr(value, "add_listener", None)
    if callable(add) and hasattr(value, "aborted"):
        if not callable(getattr(value, "remove_listener", None)):
            raise TypeError(
                f"{what}: a {type(value).__name__} has add_listener but no remove_listener: abortkit could not "
                "detach from it, and would leave a listener behind on it after every call"
            )
        return _adopt_signal_like
    raise TypeError(describe_accepted(what, value))


class SignalArgument:
    """A boundary's signal argument: checked when the boundary is made, adopted while
    the boundary is entered (``adopt``/``release``), native signals untouched."""

    __slots__ = ("_adopted", "value", "what")

    def __init__(self, value: object, what: str) -> None:
        check(value, what)
        self.value = value
        self.what = what
        self._adopted: Adopted | None = None

    @property
    def native(self) -> AbortSignal | None:
        """The signal itself if it is abortkit's own (or None), before any adoption."""
        return self.value if isinstance(self.value, AbortSignal) else None

    def adopt(self, in_scope: tuple[AbortSignal, ...]) -> AbortSignal | None:
        value = self.value
        if value is None or isinstance(value, AbortSignal):
            return value
        adopted = self._adopted = adopt(value, self.what, in_scope)
        return adopted.signal

    def release(self) -> None:
        adopted, self._adopted = self._adopted, None
        if adopted is not None:
            adopted.release()


def _is_future(value: object) -> bool:
    """``concurrent.futures.Future`` and ``asyncio.Future`` (``Task``), by duck typing: no import."""
    return all(callable(getattr(value, name, None)) for name in _FUTURE_METHODS)


_FUTURE_METHODS = ("add_done_callback", "done", "cancelled")


def _is_cancel_scope(value: object) -> bool:
    return hasattr(value, "cancel_called") and callable(getattr(value, "cancel", None))


# -- signal-like objects ---------------------------------------------------------------------


def _adopt_signal_like(source: Any) -> Adopted:
    bridge = ForeignSignal(source)

    def forward(*_: object) -> None:
        bridge._abort(getattr(source, "reason", None))

    if source.aborted:  # fast path: nothing to register
        forward()
        return Adopted(bridge)
    handle = source.add_listener(forward)
    if source.aborted:  # tripped while registering: see the module docstring
        forward()
    return Adopted(bridge, lambda: _detach(source, handle, forward))


def _detach(source: Any, handle: Any, callback: Callable[..., None]) -> None:
    remove = getattr(handle, "remove", None)
    attempts: list[Callable[[], object]] = []
    if callable(remove):
        attempts.append(remove)
    if handle is not None and not isinstance(handle, bool):
        attempts.append(lambda: source.remove_listener(handle))
    attempts.append(lambda: source.remove_listener(callback))
    for attempt in attempts:
        try:
            attempt()
            return
        except (TypeError, ValueError, LookupError):  # this style of removal is not the source's
            continue
    logger.warning("could not remove abortkit's listener from %r: it may stay registered there", source)


# -- threading.Event -------------------------------------------------------------------------


class _EventPoller:
    """One daemon thread for every adopted ``threading.Event``, running only while needed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[threading.Event, weakref.ref[AbortSignal]]] = {}
        self._wakeup = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def watch(self, event: threading.Event, bridge: AbortSignal) -> Callable[[], None]:
        key = id(bridge)
        with self._lock:
            self._watched[key] = (event, weakref.ref(bridge))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._poll, name="abortkit-event-poller", daemon=True)
                self._thread.start()
            self._wakeup.notify()

        def unwatch() -> None:
            with self._lock:
                self._watched.pop(key, None)

        return unwatch

    def _poll(self) -> None:
        while True:
            with self._lock:
                while not self._watched:
                    self._wakeup.wait()
                due = [(key, bridge) for key, (event, bridge) in self._watched.items() if event.is_set()]
                for key, _ in due:
                    del self._watched[key]
            for _, ref in due:  # outside the lock: the listeners run here
                bridge = ref()
                if bridge is not None:
                    bridge._abort(None)
            if not due:
                time.sleep(EVENT_POLL_SECONDS)


_poller = _EventPoller()


def _adopt_event(event: threading.Event) -> Adopted:
    bridge = ForeignSignal(event)
    if event.is_set():
        bridge._abort(None)
        return Adopted(bridge)
    return Adopted(bridge, _poller.watch(event, bridge))


# -- futures ---------------------------------------------------------------------------------


def _future_reason(future: Any) -> object:
    if future.cancelled():  # the future's own kind of CancelledError (asyncio's, or concurrent.futures')
        is_asyncio = type(future).__module__.startswith(("asyncio", "_asyncio"))
        module = sys.modules.get("asyncio" if is_asyncio else "concurrent.futures")
        cancelled: Any = getattr(module, "CancelledError", None)
        return cancelled() if cancelled is not None else None
    error = future.exception()
    return error if error is not None else future.result()


class _DoneCallback:
    """Forwards a future's completion to the bridge until released.

    ``concurrent.futures.Future`` has no ``remove_done_callback``: there the released
    callback stays on the future, disarmed (it holds the bridge weakly and does
    nothing), until the future completes and drops it.
    """

    __slots__ = ("__weakref__", "bridge")

    def __init__(self, bridge: AbortSignal) -> None:
        self.bridge: weakref.ref[AbortSignal] | None = weakref.ref(bridge)

    def __call__(self, future: Any) -> None:
        ref = self.bridge
        bridge = None if ref is None else ref()
        if bridge is not None:
            bridge._abort(_future_reason(future))

    def release(self, future: Any) -> None:
        self.bridge = None
        remove = getattr(future, "remove_done_callback", None)
        if callable(remove):
            remove(self)


def _adopt_future(future: Any) -> Adopted:
    bridge = ForeignSignal(future)
    forward = _DoneCallback(bridge)
    if future.done():
        forward(future)
        return Adopted(bridge)
    future.add_done_callback(forward)
    if future.done():  # done while registering (an asyncio future only calls back later)
        forward(future)
    return Adopted(bridge, lambda: forward.release(future))
