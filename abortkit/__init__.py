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

Exceptions: ``AbortError`` (an ``Exception``; ``.reason``, ``.partial``) is the only
one callers need to catch.
"""

from ._close import close_on_abort
from ._decorator import abortable
from ._errors import AbortError
from ._iter import abortable_iter
from ._network import AbortableAsyncNetworkBackend, AbortableNetworkBackend, instrument
from ._scope import abort_scope, current_signals
from ._sigint import abort_on_sigint
from ._signal import AbortController, AbortSignal, ListenerRegistration
from ._watchdog import IdleTimeoutError, IdleWatchdog

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
    "__version__",
    "abort_on_sigint",
    "abort_scope",
    "abortable",
    "abortable_iter",
    "close_on_abort",
    "current_signals",
    "instrument",
]
