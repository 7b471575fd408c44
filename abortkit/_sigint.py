"""``abort_on_sigint``: Ctrl-C trips a controller instead of raising at a random bytecode.

A ``KeyboardInterrupt`` can land anywhere: inside a ``finally``, half-way through
closing a response, inside a listener. Turning the first Ctrl-C into
``controller.abort(KeyboardInterrupt())`` lets the stream unwind through the normal
abort path (``AbortError`` with the partial output). A second Ctrl-C within
``double_press_window`` seconds means "really stop": the previous handler is put
back and ``KeyboardInterrupt`` is raised as usual.

The handler calls ``controller.abort()`` from inside a signal handler, which may
interrupt ``add_listener``/``remove``/``abort`` on the same thread: the signal
module's lock-free design (see ``_signal.py``) is what makes that safe.
"""

from __future__ import annotations

import signal as signals
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import Any

from ._signal import AbortController
from ._validate import seconds as check_seconds

__all__ = ["abort_on_sigint"]

_HEADROOM = 1_000  # frames an abort from the handler may use beyond the recursion limit


class abort_on_sigint:
    """``with abort_on_sigint(controller):`` for one turn of a REPL; main thread only."""

    __slots__ = ("_controller", "_last_press", "_previous", "_window")

    _controller: AbortController
    _last_press: float | None
    _previous: Any
    _window: float

    def __init__(self, controller: AbortController, *, double_press_window: float = 1.0) -> None:
        if not isinstance(controller, AbortController):
            raise TypeError(f"abort_on_sigint() needs an AbortController, not {type(controller).__name__}")
        window = check_seconds("abort_on_sigint() double_press_window", double_press_window)
        self._controller = controller
        self._window = window
        self._previous = None
        self._last_press = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        now = time.monotonic()
        last, self._last_press = self._last_press, now
        if last is not None and now - last <= self._window:
            self._restore()
            raise KeyboardInterrupt
        # Ctrl-C lands wherever the main thread is, possibly a few frames short of the
        # recursion limit: the abort and its listeners get room of their own.
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + _HEADROOM)
        try:
            self._controller.abort(KeyboardInterrupt())
        finally:
            sys.setrecursionlimit(limit)

    def _restore(self) -> None:
        if self._previous is not None:
            signals.signal(signals.SIGINT, self._previous)
            self._previous = None

    def __enter__(self) -> abort_on_sigint:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("abort_on_sigint() must be used on the main thread (Python delivers signals there)")
        if self._previous is not None:
            raise RuntimeError("abort_on_sigint is not re-entrant")
        self._previous = signals.signal(signals.SIGINT, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()
