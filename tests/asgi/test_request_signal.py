"""``request_signal`` and ``AbortOnDisconnect``: what they accept, and the errors that say why not."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

import abortkit.asgi
from abortkit import AbortSignal
from abortkit.asgi import AbortOnDisconnect, ClientDisconnected, request_signal
from abortkit.testing._asgi_server import running


def test_public_names() -> None:
    assert abortkit.asgi.__all__ == ["AbortOnDisconnect", "ClientDisconnected", "request_signal"]


@pytest.mark.parametrize("bad", [None, 42, "scope", b"scope", object()], ids=repr)
def test_request_signal_refuses_what_is_neither_a_request_nor_a_scope(bad: object) -> None:
    with pytest.raises(TypeError, match=rf"takes a Starlette Request .* not {type(bad).__name__}"):
        request_signal(bad)


def test_request_signal_without_the_middleware_says_how_to_install_it() -> None:
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    with pytest.raises(LookupError, match=r"no AbortOnDisconnect .* \(app = AbortOnDisconnect\(app\)\)"):
        request_signal(scope)
    with pytest.raises(LookupError, match=r"add_middleware\(AbortOnDisconnect\)"):
        request_signal(Request(scope))


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_request_signal_of_another_scope_type_says_http_only(kind: str) -> None:
    with pytest.raises(LookupError, match=rf"HTTP requests only, .* type is '{kind}'"):
        request_signal({"type": kind})


def test_middleware_arguments_are_checked() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None: ...

    with pytest.raises(TypeError, match=r"AbortOnDisconnect\(app\) must be an ASGI application .* not int"):
        AbortOnDisconnect(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"max_body_buffer=\.\.\.\) must be an int \(bytes\), not float"):
        AbortOnDisconnect(app, max_body_buffer=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"not bool"):
        AbortOnDisconnect(app, max_body_buffer=True)
    with pytest.raises(ValueError, match=r"must be >= 0, not -1"):
        AbortOnDisconnect(app, max_body_buffer=-1)
    assert AbortOnDisconnect(app, max_body_buffer=0).max_body_buffer == 0


def test_one_signal_per_request_the_same_through_request_and_scope_and_nested_middleware() -> None:
    seen: list[tuple[AbortSignal, AbortSignal]] = []

    async def endpoint(request: Request) -> Response:
        seen.append((request_signal(request), request_signal(request.scope)))
        return JSONResponse({})

    app = Starlette(routes=[Route("/", endpoint)])
    app.add_middleware(AbortOnDisconnect)  # installed twice: the inner one passes through
    app.add_middleware(AbortOnDisconnect)
    with running(app, "uvicorn") as url, httpx2.Client() as client:
        client.get(url)
        client.get(url)
    (a, a2), (b, b2) = seen
    assert a is a2 and b is b2 and a is not b
    assert not a.aborted and not b.aborted


def test_websocket_and_lifespan_pass_through_untouched() -> None:
    events: list[str] = []

    async def ws(websocket: WebSocket) -> None:
        with pytest.raises(LookupError):
            request_signal(websocket)
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()
        events.append("websocket")

    async def lifespan_app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        message = await receive()
        events.append(message["type"])
        await send({"type": "lifespan.startup.complete"})

    async def drive() -> None:
        inbox = [{"type": "lifespan.startup"}]

        async def receive() -> Any:
            return inbox.pop(0)

        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        await AbortOnDisconnect(lifespan_app)({"type": "lifespan"}, receive, send)
        assert sent == [{"type": "lifespan.startup.complete"}]

    asyncio.run(drive())
    assert events == ["lifespan.startup"]
    from starlette.testclient import TestClient

    app = Starlette(routes=[WebSocketRoute("/ws", ws)])
    app.add_middleware(AbortOnDisconnect)
    with TestClient(app).websocket_connect("/ws") as connection:
        assert connection.receive_text() == "hi"
    assert events == ["lifespan.startup", "websocket"]


def test_client_disconnected_is_a_connection_error_that_survives_pickling() -> None:
    reason = ClientDisconnected("client disconnected (http.disconnect)", via="receive", at=12.5)
    assert isinstance(reason, ConnectionError)
    copy = pickle.loads(pickle.dumps(reason))
    assert (str(copy), copy.via, copy.at) == (str(reason), "receive", 12.5)
