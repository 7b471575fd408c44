"""The middleware reads ``receive()`` ahead of the app on real servers and steals nothing.

A body the endpoint reads late (after the middleware has read it) arrives whole and in order,
above and below ``max_body_buffer``; the disconnect is delivered to the app as many times as
it asks (hypercorn delivers it once); Starlette's ``is_disconnected()`` still works; an
``Expect: 100-continue`` request the app refuses gets no ``100 Continue``.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from abortkit.asgi import AbortOnDisconnect, request_signal
from abortkit.testing._asgi_server import SERVERS, running

from ._apps import wait_for_abort
from ._clients import RawRequest

LARGE = os.urandom(3 * 1024 * 1024 + 17)  # several server messages, above the default buffer


async def late_reader(request: Request) -> Response:
    """Waits before reading, so the middleware has read (part of) the body first."""
    await anyio.sleep(float(request.query_params.get("delay", "0.2")))
    data = await request.body()
    return JSONResponse({"size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


disconnects: dict[str, list[str]] = {}


async def asks_twice(request: Request) -> Response:
    """Reads the body, waits for the client to leave, then asks ``receive()`` twice more."""
    await request.body()
    await wait_for_abort(request_signal(request))
    seen = disconnects.setdefault(request.query_params["id"], [])
    with anyio.move_on_after(2):
        for _ in range(2):
            seen.append((await request.receive())["type"])
    return Response(status_code=204)


is_disconnected: dict[str, list[bool]] = {}


async def asks_is_disconnected(request: Request) -> Response:
    await request.body()
    answers = is_disconnected.setdefault(request.query_params["id"], [])
    answers.append(await request.is_disconnected())
    await wait_for_abort(request_signal(request))
    answers.append(await request.is_disconnected())
    return Response(status_code=204)


async def refuses(request: Request) -> Response:
    await anyio.sleep(0.05)  # looks the API key up, say: the middleware is running meanwhile
    return Response(status_code=401)


def app(**options: Any) -> Any:
    routes = [
        Route("/late", late_reader, methods=["POST"]),
        Route("/twice", asks_twice, methods=["POST"]),
        Route("/is-disconnected", asks_is_disconnected, methods=["POST"]),
        Route("/refuses", refuses, methods=["POST"]),
    ]
    starlette = Starlette(routes=routes)
    starlette.add_middleware(AbortOnDisconnect, **options)
    return starlette


@pytest.fixture(scope="module", params=SERVERS)
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    with running(app(), request.param) as base:
        yield base


@pytest.mark.parametrize("size", [0, 1, 70_000, len(LARGE)], ids=["empty", "1B", "70kB", "3MB"])
def test_a_late_reader_gets_the_whole_body(url: str, size: int) -> None:
    data = LARGE[:size]
    with httpx2.Client(timeout=20) as client:
        answer = client.post(f"{url}/late", content=data).json()
    assert answer == {"size": size, "sha256": hashlib.sha256(data).hexdigest()}


def test_a_small_body_buffer_still_delivers_everything() -> None:
    """Back-pressure on a real server: 3 MB through a 4 kB buffer, read late."""
    with running(app(max_body_buffer=4096), "uvicorn") as base, httpx2.Client(timeout=20) as client:
        answer = client.post(f"{base}/late", content=LARGE).json()
    assert answer == {"size": len(LARGE), "sha256": hashlib.sha256(LARGE).hexdigest()}


def test_the_disconnect_is_delivered_every_time_the_app_asks(url: str) -> None:
    id_ = f"twice-{time.monotonic_ns()}"
    request = RawRequest(url, f"/twice?id={id_}", b"{}")
    time.sleep(0.1)
    request.close()
    deadline = time.monotonic() + 5
    while len(disconnects.get(id_, [])) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert disconnects[id_] == ["http.disconnect", "http.disconnect"]


def test_starlette_is_disconnected_still_answers(url: str) -> None:
    id_ = f"isd-{time.monotonic_ns()}"
    request = RawRequest(url, f"/is-disconnected?id={id_}", b"{}")
    deadline = time.monotonic() + 5
    while not is_disconnected.get(id_) and time.monotonic() < deadline:
        time.sleep(0.01)
    request.close()
    while len(is_disconnected.get(id_, [])) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert is_disconnected[id_] == [False, True]


def test_a_refused_expect_100_continue_request_gets_no_100_continue() -> None:
    """uvicorn sends ``100 Continue`` when ``receive()`` is first called: the middleware waits
    for the app to call it, so an app that refuses the upload unread refuses it."""
    with running(app(), "uvicorn") as base:
        request = RawRequest(base, "/refuses", b"x" * 1000, send_body=False, headers={"expect": "100-continue"})
        head = request.read_until(b"\r\n\r\n")
        request.close()
        assert head.startswith(b"HTTP/1.1 401"), head
        accepted = RawRequest(base, "/late?delay=0", b"x" * 1000, send_body=False, headers={"expect": "100-continue"})
        assert accepted.read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 100")
        accepted.send(b"x" * 1000)
        accepted.read_until(b"sha256")
        accepted.close()
        assert b'"size":1000' in accepted.received
