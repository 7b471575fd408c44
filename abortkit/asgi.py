"""abortkit.asgi: an ``AbortSignal`` per HTTP request that trips when the client leaves.

Install the middleware outermost, then ask for the request's signal anywhere below it::

    app.add_middleware(AbortOnDisconnect)  # Starlette/FastAPI, added last: outermost
    # (or, for any ASGI app: app = AbortOnDisconnect(app))

    async def chat(request: Request) -> Response:
        async with abort_scope(request_signal(request)):  # the client leaves: the upstream closes
            reply = await upstream.post(UPSTREAM, content=await request.body())  # instrument()ed
        ...

(The README's ``abortkit.asgi`` section has the complete example, which the tests run.)

The signal trips (reason: ``ClientDisconnected``) the moment the server reports the client
gone, an ``http.disconnect`` from ``receive()`` or a failed ``send()``, with no polling, in every
phase: before the body arrived, while the endpoint waits for its upstream (it reads nothing
then), mid-stream, during a plain response. The middleware listens to ``receive()`` itself for
the whole request and hands the app every message in order, so the body is never stolen (the
analysis is in ``abortkit/_asgi_request.py``). It needs no dependency: plain ASGI 3, asyncio or
trio, on uvicorn, hypercorn and any server that follows the spec.

Where to put it: outermost, or at least outside every Starlette ``BaseHTTPMiddleware``. It
also works inside one (the disconnect still reaches it through ``receive()``), but outermost
it sees the server's own messages first-hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from ._asgi_request import ClientDisconnected, Receive, RequestWatch, Send
from ._eventloop import current_loop
from ._signal import AbortSignal

__all__ = ["AbortOnDisconnect", "ClientDisconnected", "request_signal"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "abortkit.request_signal"
"""Where the middleware puts the request's signal in the scope it passes down (a copy)."""

DEFAULT_MAX_BODY_BUFFER = 1 << 20

_NOT_INSTALLED = (
    "request_signal(): no AbortOnDisconnect above this request in the app's middleware stack; wrap the app "
    "(app = AbortOnDisconnect(app)) or call app.add_middleware(AbortOnDisconnect) after every other "
    "add_middleware(), so that it is outermost"
)


class AbortOnDisconnect:
    """ASGI middleware: gives every HTTP request an ``AbortSignal`` that trips when its client leaves.

    ``max_body_buffer``: how many bytes of request body the middleware holds for an app that
    has not read them yet (it reads ahead to watch for the disconnect); past that it stops
    reading until the app takes some (back-pressure as without it). Other scope types
    (``websocket``, ``lifespan``) pass through untouched; so does a request already watched by
    an outer ``AbortOnDisconnect``.
    """

    def __init__(self, app: ASGIApp, *, max_body_buffer: int = DEFAULT_MAX_BODY_BUFFER) -> None:
        if not callable(app):
            raise TypeError(f"AbortOnDisconnect(app) must be an ASGI application (callable), not {type(app).__name__}")
        if isinstance(max_body_buffer, bool) or not isinstance(max_body_buffer, int):
            raise TypeError(
                f"AbortOnDisconnect(max_body_buffer=...) must be an int (bytes), not {type(max_body_buffer).__name__}"
            )
        if max_body_buffer < 0:
            raise ValueError(f"AbortOnDisconnect(max_body_buffer=...) must be >= 0, not {max_body_buffer!r}")
        self.app = app
        self.max_body_buffer = max_body_buffer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or isinstance(scope.get(SCOPE_KEY), AbortSignal):
            await self.app(scope, receive, send)
            return
        watch = RequestWatch(
            receive,
            send,
            current_loop("abortkit.asgi"),
            max_body_buffer=self.max_body_buffer,
            defer=_expects_continue(scope),
        )
        inner = dict(scope)  # middleware copy the scope they change (ASGI spec)
        inner[SCOPE_KEY] = watch.signal
        watch.start()
        try:
            await self.app(inner, watch.receive, watch.send)
        finally:
            watch.close()

    def __repr__(self) -> str:
        return f"AbortOnDisconnect({self.app!r}, max_body_buffer={self.max_body_buffer})"


def _expects_continue(scope: Scope) -> bool:
    headers = scope.get("headers") or ()
    try:
        return any(bytes(name).lower() == b"expect" and bytes(value).lower() == b"100-continue" for name, value in headers)
    except (TypeError, ValueError):  # not the (bytes, bytes) pairs the spec requires: nothing to defer for
        return False


def request_signal(request_or_scope: Any) -> AbortSignal:
    """The ``AbortSignal`` of this HTTP request: trips (reason ``ClientDisconnected``) when its client leaves.

    Takes a Starlette/FastAPI ``Request`` (anything with a ``.scope`` mapping) or the raw ASGI
    scope dict. TypeError for anything else; LookupError when no ``AbortOnDisconnect`` watches
    the request (not installed, installed below the caller, or not an HTTP request). The signal
    covers the request until its response was sent whole: it never trips after that.
    """
    scope = getattr(request_or_scope, "scope", None)
    if not isinstance(scope, Mapping):
        scope = request_or_scope
    if not isinstance(scope, Mapping):
        raise TypeError(
            "request_signal() takes a Starlette Request (anything with a .scope mapping) or an ASGI scope dict, "
            f"not {type(request_or_scope).__name__}"
        )
    signal = scope.get(SCOPE_KEY)
    if isinstance(signal, AbortSignal):
        return signal
    kind = scope.get("type")
    if kind != "http":
        raise LookupError(
            f"request_signal(): AbortOnDisconnect watches HTTP requests only, and this scope's type is {kind!r}"
        )
    raise LookupError(_NOT_INSTALLED)
