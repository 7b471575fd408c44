"""What ``close_on_abort`` can close, found by duck typing.

Accepted: ``httpx.Response`` and ``httpx2.Response`` (sync or async), the SDKs'
``Stream``/``AsyncStream`` and ``MessageStream``/``AsyncMessageStream`` (they expose
the HTTP response as ``.response``), and anything with ``close()`` or ``aclose()``.
Neither httpx nor an SDK is imported: users on httpx 0.28 and on httpx2 are both
served, and neither is a dependency.

``ConnectionGuard`` is the one place that knows whether the object has been closed
("released": it let go of its connection), whoever closed it, and the one closer of
``close_on_abort``. It answers the question an abort from another thread must ask
before it shuts a socket down: is this connection still ours? The response's byte
stream is swapped for a thin proxy whose ``close()``/``aclose()`` marks the
connection released *before* the real close can hand it back to the pool (so a close
by anyone, the SDK stream's own or ``abortable_iter``'s, counts); the abort-side
shutdown takes the same lock and skips a released connection. So a late abort can
never shut down a connection the pool has handed to another request, and nothing
is closed twice by us.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ._eventloop import EventLoop
from ._sockets import interrupter_for

__all__ = ["NO_SOCKET", "RELEASED", "SHUT_DOWN", "ConnectionGuard", "Target", "guard_of", "resolve_target"]

RELEASED, SHUT_DOWN, NO_SOCKET = "released", "shut down", "no socket"


def _is_http_response(obj: Any) -> bool:
    """An httpx/httpx2 ``Response``, by what it is rather than by what it has: a test double
    (``MagicMock``) has every attribute, and its truthy ``is_closed`` would read as
    "released", so that an abort would silently do nothing."""
    try:
        return (
            obj.is_closed is True or obj.is_closed is False
        ) and isinstance(obj.http_version, str) and isinstance(obj.extensions, dict) and hasattr(obj, "stream")
    except Exception:  # no such attribute, or a property that raises
        return False


def _find_http_response(obj: Any) -> Any:
    if _is_http_response(obj):
        return obj
    try:
        inner = obj.response
    except Exception:  # the anthropic MessageStream's property may raise before entry
        return None
    return inner if _is_http_response(inner) else None


class Target:
    """How to interrupt one closable object: its HTTP response (if any) and its closer."""

    __slots__ = ("async_close", "http_response", "is_async", "obj", "sync_close")

    def __init__(self, obj: Any, *, lenient: bool = False) -> None:
        self.obj = obj
        self.http_response = _find_http_response(obj)
        self.sync_close: Callable[[], object] | None = None
        self.async_close: Callable[[], Coroutine[Any, Any, object]] | None = None
        if self.http_response is obj:  # a bare httpx Response: its stream says which
            if hasattr(obj.stream, "__aiter__") and not hasattr(obj.stream, "__iter__"):
                self.async_close = obj.aclose
            else:
                self.sync_close = obj.close
        else:
            aclose = getattr(obj, "aclose", None)
            close = getattr(obj, "close", None)
            if callable(aclose) and inspect.iscoroutinefunction(aclose):
                self.async_close = aclose
            elif callable(close) and inspect.iscoroutinefunction(close):
                self.async_close = close
            elif callable(close):
                self.sync_close = close
            elif not lenient:
                raise TypeError(
                    f"close_on_abort() cannot close a {type(obj).__module__}.{type(obj).__qualname__}: "
                    "it needs an httpx/httpx2 Response, an SDK stream, or an object with close() or aclose()"
                )
        self.is_async = self.async_close is not None


def resolve_target(obj: Any, *, lenient: bool = False) -> Target:
    """``lenient`` (``missing="ignore"``): an object abortkit cannot close is accepted, and
    nothing is closed for it (the block is then only a scope)."""
    if obj is None and not lenient:
        raise TypeError("close_on_abort() needs a response to close, not None")
    return Target(obj, lenient=lenient)


_proxy_classes: dict[tuple[type, type], type] = {}

# The guard of every object inside a close_on_abort block now, by id (entered on install,
# removed on uninstall; the entry holds the object, so its id cannot be reused meanwhile).
_guards: dict[int, ConnectionGuard] = {}


def guard_of(obj: object) -> ConnectionGuard | None:
    """The ``ConnectionGuard`` of the ``close_on_abort`` block watching ``obj`` now, if any:
    whoever else would close ``obj`` (``abortable_iter``) closes it through the guard."""
    guard = _guards.get(id(obj))
    return guard if guard is not None and guard._target.obj is obj else None


def _proxy_class(response: Any) -> type | None:
    module = sys.modules.get(type(response).__module__.partition(".")[0])
    sync_base = getattr(module, "SyncByteStream", None)
    async_base = getattr(module, "AsyncByteStream", None)
    if not (isinstance(sync_base, type) and isinstance(async_base, type)):
        return None
    key = (sync_base, async_base)
    cls = _proxy_classes.get(key)
    if cls is None:
        cls = type("GuardedByteStream", (_GuardedByteStream, sync_base, async_base), {})
        _proxy_classes[key] = cls
    return cls


class _GuardedByteStream:
    """Delegates to the real byte stream; marks the guard released before closing."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard

    def __iter__(self) -> Any:
        return iter(self._inner)

    def __aiter__(self) -> Any:
        return self._inner.__aiter__()

    def close(self) -> None:
        if self._guard.release():
            self._inner.close()

    async def aclose(self) -> None:
        if self._guard.release():
            await self._inner.aclose()


class ConnectionGuard:
    """The life of one closable: is it still ours, shut its socket down, close it once.

    Made for every ``close_on_abort`` target; for one with no HTTP response there is
    no byte stream to guard and no socket to shut down, and "released" means only that
    we closed it.
    """

    __slots__ = ("_closing", "_installed", "_lock", "_original", "_released", "_response", "_target")

    def __init__(self, target: Target) -> None:
        self._target = target
        self._response = target.http_response
        # Re-entrant: an abort may run in a signal handler on the consumer's thread while
        # that thread is inside release(). Each critical section is safe to interleave
        # that way: an abort landing inside release() before the flag is set shuts down
        # a connection that is still ours; one landing after sees it released.
        self._lock = threading.RLock()
        self._released = False
        self._original: Any = None
        self._installed: Any = None
        self._closing: Any = None  # the task of a close started on the loop (async)

    def install(self) -> None:
        """Start guarding (at ``close_on_abort`` entry): read the state, swap the byte stream."""
        _guards.setdefault(id(self._target.obj), self)  # an enclosing block's guard keeps it
        response = self._response
        if response is None:
            return
        self._released = bool(response.is_closed)
        self._original = response.stream
        cls = _proxy_class(response)
        if cls is not None and not self._released:
            self._installed = cls(self._original, self)
            response.stream = self._installed

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> bool:
        """Mark released; True for the first caller, who must perform the real close."""
        with self._lock:
            first = not self._released
            self._released = True
            return first

    def shutdown(self) -> str:
        """Shut the socket down if the connection is still this response's.

        Returns ``RELEASED`` (the response had already let go of its connection: the
        abort interrupted nothing), ``SHUT_DOWN`` (the blocked read is woken; the close
        belongs to the consumer's thread, or to its loop) or ``NO_SOCKET`` (live, but no socket to shut
        down, e.g. HTTP/2, whose socket carries other streams, or no HTTP response at
        all: only closing the object can stop it).
        """
        with self._lock:
            if self._released:
                return RELEASED
            network_stream = None if self._response is None else self._response.extensions.get("network_stream")
            if network_stream is None:
                return NO_SOCKET
            interrupter = interrupter_for(network_stream)
            if self._response.http_version == "HTTP/2":
                interrupter.mark_multiplexed()  # the interrupter decides: hands off a shared socket
            return SHUT_DOWN if interrupter.interrupt() else NO_SOCKET

    # -- closing: at most once, whoever asks ------------------------------------------------
    def _claim_close(self) -> bool:
        """True for the caller that must close the object, False once it is closed.

        With our byte stream in place, the object's own close releases through it (the
        first release performs the real close, see ``_GuardedByteStream``), so the flag
        is left to that. Without one, the flag is set here, before the close starts:
        a consumer woken by that very close finds the object closed and leaves it alone.
        """
        with self._lock:
            if self._released:
                return False
            if self._installed is None:
                self._released = True
            return True

    def close(self) -> None:
        """Close the object (sync) unless it is closed already, by us or by anyone."""
        if not self._claim_close():
            return
        close = self._target.sync_close
        if close is None:  # nothing to close (``missing="ignore"``)
            self._released = True
            return
        try:
            close()  # outside the lock: it is the object's code
        finally:
            self._released = True

    async def aclose(self) -> None:
        """Close the object on its loop unless it is closed already; if a close is in
        flight (``start_aclose``), wait for that one instead of starting another."""
        if self._closing is not None:
            await self._closing
        elif self._claim_close():
            await self._aclose_now()

    def start_aclose(self, loop: EventLoop) -> None:
        """Start the close as a task of ``loop`` (on its thread); ``aclose`` waits for it."""
        if self._closing is None and self._claim_close():
            self._closing = loop.spawn(self._aclose_now)

    async def _aclose_now(self) -> None:
        try:
            if self._target.async_close is not None:
                await self._target.async_close()
            elif self._target.sync_close is not None:
                self._target.sync_close()
        finally:
            self._released = True

    @property
    def closes_synchronously(self) -> bool:
        return self._target.sync_close is not None

    def uninstall(self) -> None:
        """Stop guarding: put the original byte stream back (only if ours is still in place)."""
        key = id(self._target.obj)
        if _guards.get(key) is self:
            del _guards[key]
        if self._installed is not None and self._response is not None and self._response.stream is self._installed:
            self._response.stream = self._original
