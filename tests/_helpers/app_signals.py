"""Cancellation types as applications write them, for the SignalLike tests: abortkit must
work with them as they are (no base class, no bridge code in the app)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class AppAbortError(Exception):
    """An app's own abort exception, whose text it shows to the user."""

    def __init__(self, message: str = "Interrupted by user") -> None:
        super().__init__(message)


class HandleSignal:
    """add_listener returns an integer handle; remove_listener takes it."""

    def __init__(self) -> None:
        self.aborted = False
        self.reason: Any = None
        self._listeners: dict[int, Callable[..., object]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def add_listener(self, callback: Callable[..., object]) -> int:
        with self._lock:
            self._next += 1
            self._listeners[self._next] = callback
            return self._next

    def remove_listener(self, handle: int) -> None:
        with self._lock:
            del self._listeners[handle]  # KeyError for anything else

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    def abort(self, reason: Any = "user pressed ESC") -> None:
        self.reason = reason
        self.aborted = True
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            listener(reason)  # this app passes the reason


class CallbackSignal:
    """The callback-removal style: add_listener returns nothing, remove_listener(callback)."""

    def __init__(self) -> None:
        self.aborted = False
        self.reason: Any = None
        self.listeners: list[Callable[[], object]] = []

    def add_listener(self, callback: Callable[[], object]) -> None:
        self.listeners.append(callback)

    def remove_listener(self, callback: Callable[[], object]) -> None:
        self.listeners.remove(callback)

    @property
    def listener_count(self) -> int:
        return len(self.listeners)

    def abort(self, reason: Any = "stop") -> None:
        self.reason = reason
        self.aborted = True
        for listener in list(self.listeners):
            listener()


class AppController:
    """An app's own AbortController/AbortSignal pair (the signal is a HandleSignal)."""

    def __init__(self) -> None:
        self.signal = HandleSignal()

    def abort(self, reason: Any = "user pressed ESC") -> None:
        self.signal.abort(reason)
