"""The network layer: abortable connect, TLS handshake, write and read, in every phase.

``close_on_abort`` needs a response object, but the longest wait often comes before
there is one: behind LiteLLM or a corporate proxy the response headers arrive only
when the model starts answering. So abortkit also wraps the *network backend* of
httpcore/httpcore2 (the layer under httpx/httpx2, under both SDKs). Every blocking
network call then runs like this:

1. Read the signals of the enclosing ``abort_scope`` (a context variable: it follows
   the calling thread or task, never the pooled connection). None: call through, at
   the cost of one context-variable read.
2. Register a listener on each signal that shuts this connection's socket down. If a
   signal has already tripped the listener runs at once, and the call is not made.
3. Make the call. When it returns or raises, detach the listener, waiting for it if
   it is running on another thread: once the call has returned, nothing of ours
   touches the socket, and only after that can the pool hand the connection to
   someone else. That is why a late abort never reaches another request.
4. If a signal tripped, raise ``AbortUnwind`` (a ``BaseException``) instead of the
   result or of the transport error the shutdown caused. The SDKs retry transport
   errors (``except Exception``); they do not catch a ``BaseException``, so an
   aborted request is never retried, and httpcore's cancellation handling closes the
   connection on its way out. The enclosing abortkit boundary turns it into
   ``AbortError``.

HTTP/2 connections carry other requests' streams: their socket is never shut down,
and an abort is noticed when the connection next delivers data. A connection is known
to be HTTP/2 from its TLS ALPN, or, for HTTP/2 by prior knowledge on plain TCP (h2c,
no ALPN), from the connection preface httpcore writes on it first.

Connecting: a sync ``connect()`` cannot be woken portably (there is no socket to shut
down until it returns), so inside a scope it runs on a short-lived helper thread and
the caller waits for it or for the abort. An async connect is raced against the
signal by the event loop's backend (``_eventloop.py``): under asyncio it is cancelled
when the signal trips; under trio it runs to its end, and the tripped signal is seen
right after it.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import _scope
from ._backoff import instrument_backoff
from ._eventloop import current_loop, running_loop
from ._signal import AbortSignal
from ._sockets import InterruptibleStream, SocketInterrupter
from ._waiting import Watch, first_tripped, raise_if_tripped
from ._watchdog import _watchdogs, report_progress

__all__ = [
    "AbortableAsyncNetworkBackend",
    "AbortableNetworkBackend",
    "instrument",
]

T = TypeVar("T")

# What every HTTP/2 client sends first (RFC 9113, 3.4): seen on a write, the connection is multiplexed.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _StreamBase(InterruptibleStream):
    """What the sync and async wrappers share: the socket, and how to interrupt it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        # The connection's one interrupter: close_on_abort's guard reaches this same
        # object through the response's "network_stream" (``_sockets.interrupter_for``).
        self.interrupter = SocketInterrupter(inner)
        self._interrupt = self.interrupter.interrupt

    _preface_checked = False

    def _check_preface(self, buffer: bytes) -> None:
        """Before the first write goes out: an HTTP/2 preface marks the connection shared.

        Before any listener of a request on it can run: the preface is the first thing
        httpcore writes on an HTTP/2 connection, before any request's headers.
        """
        self._preface_checked = True
        if buffer[: len(_H2_PREFACE)] == _H2_PREFACE:
            self.interrupter.mark_multiplexed()

    def _drop_if_tripped(self, watch: Watch) -> None:
        """Bytes read after the abort are not handed over, on a connection of our own.

        On HTTP/2 the bytes may be other streams' frames (whichever request holds
        httpcore's read lock reads for all of them): they are handed over, and the
        aborted request stops at its next call, before reading anything more.
        """
        if not self.interrupter.multiplexed:
            watch.raise_if_tripped()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def __getattr__(self, name: str) -> Any:  # anything else the backend offers
        return getattr(self._inner, name)


class AbortableNetworkStream(_StreamBase):
    """A sync httpcore network stream whose blocking calls obey the current scope."""

    def _call(self, method: Callable[..., T], *args: Any) -> T:
        signals = _scope.current()
        if not signals:
            return method(*args)
        watch = Watch(signals, self._interrupt)
        try:
            watch.raise_if_tripped()
            try:
                result = method(*args)
            except BaseException as exc:
                watch.raise_if_tripped(exc)
                raise
        finally:
            watch.stop()
        self._drop_if_tripped(watch)
        return result

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._call(self._inner.read, max_bytes, timeout)
        if data and _watchdogs.get():
            report_progress()
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not self._preface_checked:
            self._check_preface(buffer)
        self._call(self._inner.write, buffer, timeout)

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return AbortableNetworkStream(self._call(self._inner.start_tls, ssl_context, server_hostname, timeout))

    def close(self) -> None:
        self._inner.close()


class AbortableAsyncNetworkStream(_StreamBase):
    """An async httpcore network stream whose awaits obey the current scope.

    The listener only schedules the shutdown on the stream's loop (batched: see
    ``_eventloop.py``), so an abort of a thousand streams costs the aborting thread a
    thousand deque appends, not a thousand syscalls fighting the loop for the GIL.
    """

    _on_abort: Callable[[], object] | None = None

    def _schedule_interrupt(self) -> Callable[[], object]:
        loop = current_loop()
        interrupt = self._interrupt

        def on_abort() -> None:
            loop.call_soon(interrupt)

        self._on_abort = on_abort
        return on_abort

    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any) -> T:
        signals = _scope.current()
        if not signals:
            return await method(*args)
        watch = Watch(signals, self._on_abort or self._schedule_interrupt())
        try:
            watch.raise_if_tripped()
            try:
                result = await method(*args)
            except BaseException as exc:
                watch.raise_if_tripped(exc)
                raise
        finally:
            watch.stop()
        self._drop_if_tripped(watch)
        return result

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = await self._call(self._inner.read, max_bytes, timeout)
        if data and _watchdogs.get():
            report_progress()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not self._preface_checked:
            self._check_preface(buffer)
        await self._call(self._inner.write, buffer, timeout)

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        inner = await self._call(self._inner.start_tls, ssl_context, server_hostname, timeout)
        return AbortableAsyncNetworkStream(inner)

    async def aclose(self) -> None:
        await self._inner.aclose()


class AbortableNetworkBackend:
    """Wraps a sync httpcore/httpcore2 network backend (``SyncBackend``)."""

    def __init__(self, inner: Any) -> None:
        _check_backend(inner, type(self).__name__)
        self._inner = inner

    @property
    def inner(self) -> Any:
        return self._inner

    def _connect(self, connect: Callable[..., Any], *args: Any, **kwargs: Any) -> AbortableNetworkStream:
        signals = _scope.current()
        raise_if_tripped(signals)  # no connection attempt at all
        stream = _connect_abortably(signals, connect, args, kwargs) if signals else connect(*args, **kwargs)
        if first_tripped(signals) is not None:
            stream.close()
            raise_if_tripped(signals)
        return AbortableNetworkStream(stream)

    def connect_tcp(self, *args: Any, **kwargs: Any) -> AbortableNetworkStream:
        return self._connect(self._inner.connect_tcp, *args, **kwargs)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> AbortableNetworkStream:
        return self._connect(self._inner.connect_unix_socket, *args, **kwargs)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _check_backend(inner: Any, what: str) -> None:
    if not callable(getattr(inner, "connect_tcp", None)):
        raise TypeError(f"{what} wraps an httpcore network backend (with connect_tcp), not {type(inner).__name__}")


def _connect_abortably(
    signals: tuple[AbortSignal, ...], connect: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Connect on a helper thread while this one waits for the connection or the abort.

    A blocking ``connect()`` cannot be woken portably (no socket exists to shut down
    until it returns), so the connect runs on a short-lived thread and the caller
    waits on an event that the abort also sets. If the caller leaves first, the
    helper closes the connection when (or if) it completes: within the connect timeout.
    Costs one thread start per *new* connection, only inside an ``abort_scope``.
    """
    settled = threading.Event()
    lock = threading.Lock()
    outcome: list[tuple[bool, Any]] = []
    abandoned = False

    def attempt() -> None:
        try:
            result: tuple[bool, Any] = (True, connect(*args, **kwargs))
        except BaseException as exc:
            result = (False, exc)
        with lock:
            orphaned = abandoned
            if not orphaned:
                outcome.append(result)
        if orphaned and result[0]:
            result[1].close()  # the caller left on an abort: nobody will use this connection
        settled.set()

    watch = Watch(signals, settled.set)
    try:
        threading.Thread(target=attempt, name="abortkit-connect", daemon=True).start()
        settled.wait()
    finally:
        watch.stop()
    with lock:
        if not outcome:
            abandoned = True
            watch.raise_if_tripped()
        succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value


class AbortableAsyncNetworkBackend:
    """Wraps an async httpcore/httpcore2 network backend (``AutoBackend``, anyio, trio)."""

    def __init__(self, inner: Any) -> None:
        _check_backend(inner, type(self).__name__)
        self._inner = inner

    @property
    def inner(self) -> Any:
        return self._inner

    async def _connect(self, connect: Callable[..., Any], *args: Any, **kwargs: Any) -> AbortableAsyncNetworkStream:
        signals = _scope.current()
        raise_if_tripped(signals)  # no connection attempt at all
        loop = running_loop() if signals else None
        if loop is not None:
            stream = await loop.race(signals, connect(*args, **kwargs))
        else:
            stream = await connect(*args, **kwargs)
        if first_tripped(signals) is not None:
            await stream.aclose()
            raise_if_tripped(signals)
        return AbortableAsyncNetworkStream(stream)

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> AbortableAsyncNetworkStream:
        return await self._connect(self._inner.connect_tcp, *args, **kwargs)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> AbortableAsyncNetworkStream:
        return await self._connect(self._inner.connect_unix_socket, *args, **kwargs)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# -- installing it -----------------------------------------------------------------------


def _wrap_backend(backend: Any, asynchronous: bool) -> Any:
    if isinstance(backend, (AbortableNetworkBackend, AbortableAsyncNetworkBackend)):
        return backend
    return AbortableAsyncNetworkBackend(backend) if asynchronous else AbortableNetworkBackend(backend)


def _reachable(transport: Any) -> bool:
    try:
        _pool_of(transport)
    except TypeError:
        return False
    return True


def _pool_of(transport: Any) -> Any:
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise TypeError(
            f"instrument(): cannot reach the connection pool of a {type(transport).__name__}; "
            "it needs httpx's or httpx2's HTTPTransport/AsyncHTTPTransport (or a subclass)"
        )
    return pool


def instrument(client: T, *, strict: bool = True) -> T:
    """Make every request of ``client`` abortable by the enclosing ``abort_scope``.

    ``client``: an ``httpx``/``httpx2`` ``Client`` or ``AsyncClient``, or an SDK client
    (``openai.OpenAI``, ``anthropic.Anthropic``, their async twins) that keeps one as
    ``_client``. Wraps the network backend of each of its transports (mounts included)
    in place and returns the client; for an SDK client it also makes the SDK's sleep
    between two retry attempts abortable (``_backoff.py``). Idempotent. Call it before
    the first request: connections already open keep their unwrapped streams.

    ``strict=False``: what abortkit cannot reach (``httpx.MockTransport``, a custom
    transport, an object that is no client) is left as it is, instead of a TypeError:
    for apps whose tests pass such doubles. Its connect and headers wait are then not
    abortable; ``close_on_abort`` and ``abortable_iter`` still work on its responses.
    """
    if strict is not True and strict is not False:
        raise TypeError(f"instrument() strict must be a bool, not {type(strict).__name__}")
    http_client: Any = client
    inner = getattr(client, "_client", None)
    if inner is not None and hasattr(inner, "_transport"):
        http_client = inner
    transport = getattr(http_client, "_transport", None)
    if transport is None:
        if not strict:
            return client
        raise TypeError(f"instrument() needs an httpx/httpx2 client or an SDK client, not {type(client).__name__}")
    transports = [transport, *(t for t in getattr(http_client, "_mounts", {}).values() if t is not None)]
    if not strict:
        transports = [item for item in transports if _reachable(item)]
    pools = [(_pool_of(item), hasattr(item, "handle_async_request")) for item in transports]
    for pool, asynchronous in pools:  # all checked first: no half-instrumented client
        pool._network_backend = _wrap_backend(pool._network_backend, asynchronous)
    if http_client is not client:
        instrument_backoff(client, instrument)
    return client
