"""abortkit: make a streaming LLM call stop *now* when the user presses ESC.

Public surface (everything else lives in private ``_modules``):

* ``AbortController`` / ``AbortSignal`` / ``ListenerRegistration``: the WHATWG pair,
  thread safe and re-entrant (``abort()`` from any thread, a listener, or a signal
  handler).
* ``close_on_abort(signal, response)``: ``with``/``async with``; wakes a consumer
  blocked reading ``response`` within a millisecond of the abort.
* ``abortable_iter(iterable, signal)``: the in-loop check; nothing after the abort.
* ``@abortable``: the provider-method boundary (fast path, scope, translation, recheck).
* ``abort_scope(signal)`` and ``instrument(client)``: abort any phase of a request made
  through an instrumented httpx/httpx2/SDK client, headers wait included.
* ``abort_on_sigint(controller)``: Ctrl-C trips the controller; a quick second Ctrl-C
  raises ``KeyboardInterrupt`` as usual.
* ``IdleWatchdog``: abort a stream that received no bytes for a while (pings count).

Low-level names (the network backends ``instrument()`` installs, ``current_signals``)
live in :mod:`abortkit.lowlevel`; they stay importable from here as aliases.

Exceptions: ``AbortError`` (an ``Exception``; ``.reason``, ``.partial``) is the only
one callers need to catch.

Names are imported on first use (PEP 562), so that ``import abortkit`` costs next to
nothing: the pytest plugin lives in this package and is imported by every pytest run
wherever abortkit is installed, and the whole library (logging, asyncio, wrapt) costs
about 90 ms to import. Importing every name loads only the standard library and wrapt.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms with re)

if TYPE_CHECKING:
    from typing import Any

    from ._close import close_on_abort
    from ._decorator import abortable
    from ._errors import AbortError
    from ._foreign import SignalLike
    from ._iter import abortable_iter
    from ._network import instrument
    from ._scope import abort_scope
    from ._sigint import abort_on_sigint
    from ._signal import AbortController, AbortSignal, ListenerRegistration
    from ._watchdog import IdleTimeoutError, IdleWatchdog
    from .lowlevel import AbortableAsyncNetworkBackend, AbortableNetworkBackend, current_signals  # aliases

__version__ = "0.1.0"

__all__ = [
    "AbortController",
    "AbortError",
    "AbortSignal",
    "AbortableAsyncNetworkBackend",
    "AbortableNetworkBackend",
    "IdleTimeoutError",
    "IdleWatchdog",
    "ListenerRegistration",
    "SignalLike",
    "__version__",
    "abort_on_sigint",
    "abort_scope",
    "abortable",
    "abortable_iter",
    "close_on_abort",
    "current_signals",
    "instrument",
]

_WHERE = {
    "close_on_abort": "_close",
    "abortable": "_decorator",
    "AbortError": "_errors",
    "abortable_iter": "_iter",
    "instrument": "_network",
    "abort_scope": "_scope",
    # The low-level names live in abortkit.lowlevel; these are its aliases (the same objects).
    **dict.fromkeys(("AbortableAsyncNetworkBackend", "AbortableNetworkBackend", "current_signals"), "lowlevel"),
    "abort_on_sigint": "_sigint",
    **dict.fromkeys(("AbortController", "AbortSignal", "ListenerRegistration"), "_signal"),
    **dict.fromkeys(("IdleTimeoutError", "IdleWatchdog"), "_watchdog"),
    "SignalLike": "_foreign",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'abortkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *_WHERE))
