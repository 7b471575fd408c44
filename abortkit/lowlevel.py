"""``abortkit.lowlevel``: the parts under the high-level API, for code that builds its own.

Most code needs only ``abortkit``'s high-level names (``instrument``, ``abort_scope``,
``close_on_abort``, ``abortable_iter``, ``@abortable``). These are for the rest:

* ``AbortableNetworkBackend`` / ``AbortableAsyncNetworkBackend``: the httpcore/httpcore2
  network backends that ``instrument()`` installs in a client's connection pools (wrap
  one yourself for a transport ``instrument()`` cannot reach, e.g.
  ``httpcore2.ConnectionPool(network_backend=AbortableNetworkBackend(SyncBackend()))``).
  Every connect, TLS handshake, read and write through them obeys the signals of the
  enclosing scope.
* ``current_signals()``: the signals of every enclosing scope, outermost first (what
  those backends obey), for code that must make its own blocking call abortable.

The same objects stay importable from ``abortkit`` under the same names.
"""

from __future__ import annotations

from ._network import AbortableAsyncNetworkBackend, AbortableNetworkBackend
from ._scope import current_signals

__all__ = ["AbortableAsyncNetworkBackend", "AbortableNetworkBackend", "current_signals"]
