"""The apps the ASGI tests serve: one raw ASGI app and Starlette/FastAPI stacks, same endpoints.

Endpoints (query parameters: ``id`` names the request's record, ``read=0`` skips reading the body,
``mwread=1`` makes the stacks' ``BaseHTTPMiddleware`` read it first, as a logging middleware does):

* ``POST /wait``: read the body, then wait for the request's signal (at most ``HOLD`` s: the
  model thinking before its first token), then answer with JSON (a non-streaming response).
* ``POST /stream``: read the body, then (streaming) send headers and a first chunk, wait for
  the signal, then send the rest.
* ``POST /quick`` / ``POST /quick?stream=1``: answer at once, plain or streamed in 3 chunks.

Every request records, with ``time.monotonic()``, when it reached its waiting point and when its
signal tripped (from a listener: that is the moment the middleware saw the client leave).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from abortkit import AbortSignal
from abortkit.asgi import AbortOnDisconnect, request_signal

HOLD = 10.0
"""How long an endpoint waits for the abort before giving up (far beyond any bound tested)."""

STACKS = ("raw", "starlette", "fastapi", "base-inside", "base-outside")
"""raw ASGI; Starlette; FastAPI; Starlette with a BaseHTTPMiddleware inside AbortOnDisconnect
(AbortOnDisconnect outermost, as recommended); and with it outside (AbortOnDisconnect inside)."""


@dataclasses.dataclass
class Record:
    id: str
    path: str
    started_at: float
    body: bytes | None = None
    reached_at: float | None = None
    tripped_at: float | None = None
    reason: Any = None
    body_error: str | None = None
    finished_at: float | None = None
    reached: threading.Event = dataclasses.field(default_factory=threading.Event)
    tripped: threading.Event = dataclasses.field(default_factory=threading.Event)
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)


class Recorder:
    """Thread-safe: the server's thread writes, the test's thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._arrived = threading.Condition(self._lock)

    def new(self, id_: str, path: str, signal: AbortSignal) -> Record:
        record = Record(id_, path, time.monotonic())

        def tripped() -> None:
            record.tripped_at = time.monotonic()
            record.reason = signal.reason
            record.tripped.set()

        signal.add_listener(tripped)
        with self._arrived:
            self._records[id_] = record
            self._arrived.notify_all()
        return record

    def get(self, id_: str, timeout: float = 5.0) -> Record:
        with self._arrived:
            if not self._arrived.wait_for(lambda: id_ in self._records, timeout):
                raise AssertionError(f"request {id_!r} never reached the endpoint")
            return self._records[id_]

    def all(self) -> list[Record]:
        with self._lock:
            return list(self._records.values())


def _query(scope: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}


async def wait_for_abort(signal: AbortSignal, timeout: float = HOLD) -> bool:
    """Wait (without polling) until ``signal`` trips; False after ``timeout``."""
    event = anyio.Event()
    with signal.add_listener(event.set):
        with anyio.move_on_after(timeout):
            await event.wait()
    return signal.aborted


# -- raw ASGI ------------------------------------------------------------------------------------


async def _read_body(receive: Any) -> bytes | None:
    """The whole body, or None when the client left first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def raw_app(recorder: Recorder) -> Any:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        query = _query(scope)
        signal = request_signal(scope)
        record = recorder.new(query.get("id", "?"), scope["path"], signal)
        try:
            if query.get("read", "1") == "1":
                record.body = await _read_body(receive)
                if record.body is None:
                    record.body_error = "http.disconnect"
                    return
            path = scope["path"]
            if path == "/quick":
                await _raw_quick(send, stream=query.get("stream") == "1")
                return
            start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
            if path == "/stream":
                await send(start)
                await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
            record.reached_at = time.monotonic()
            record.reached.set()
            aborted = await wait_for_abort(signal)
            if path == "/stream":
                await send({"type": "http.response.body", "body": b"rest\n", "more_body": False})
            else:
                body = json.dumps({"aborted": aborted}).encode()
                await send({**start, "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
        finally:
            record.finished_at = time.monotonic()
            record.finished.set()

    return AbortOnDisconnect(endpoint)


async def _raw_quick(send: Any, *, stream: bool) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if stream:
        for part in (b"a", b"b"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"c", "more_body": False})
    else:
        await send({"type": "http.response.body", "body": b"abc"})


# -- Starlette / FastAPI -------------------------------------------------------------------------


def _starlette_endpoints(recorder: Recorder) -> dict[str, Any]:
    # (Request and the responses are imported at module level: FastAPI resolves the string
    # annotations of an endpoint in its module's globals.)
    async def begin(request: Request) -> tuple[Record, AbortSignal, bool]:
        signal = request_signal(request)
        record = recorder.new(request.query_params.get("id", "?"), request.url.path, signal)
        if request.query_params.get("read", "1") == "1":
            try:
                record.body = await request.body()
            except ClientDisconnect:
                record.body_error = "ClientDisconnect"
                return record, signal, False
        return record, signal, True

    def end(record: Record) -> None:
        if record.finished_at is None:
            record.finished_at = time.monotonic()
        record.finished.set()

    async def wait(request: Request) -> Response:
        record, signal, ok = await begin(request)
        try:
            if not ok:
                return Response(status_code=499)
            record.reached_at = time.monotonic()
            record.reached.set()
            return JSONResponse({"aborted": await wait_for_abort(signal)})
        finally:
            end(record)

    async def stream(request: Request) -> Response:
        record, signal, ok = await begin(request)
        if not ok:
            end(record)
            return Response(status_code=499)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"first\n"
                record.reached_at = time.monotonic()
                record.reached.set()
                await wait_for_abort(signal)
                end(record)  # before the next yield: Starlette may abandon the generator there, unfinalized
                yield b"rest\n"
            finally:
                end(record)

        return StreamingResponse(body(), media_type="text/plain")

    async def quick(request: Request) -> Response:
        record, _, _ = await begin(request)
        try:
            if request.query_params.get("stream") == "1":

                async def parts() -> AsyncIterator[bytes]:
                    for part in (b"a", b"b", b"c"):
                        yield part

                return StreamingResponse(parts(), media_type="text/plain")
            return PlainTextResponse("abc")
        finally:
            end(record)

    return {"/wait": wait, "/stream": stream, "/quick": quick}


def _passing_base_middleware() -> Any:
    from starlette.middleware.base import BaseHTTPMiddleware

    class Passing(BaseHTTPMiddleware):
        """What many apps have: a dispatch that only adds a header (and so hides disconnects)."""

        async def dispatch(self, request: Any, call_next: Any) -> Any:
            if request.query_params.get("mwread") == "1":
                await request.body()  # a logging middleware: the body is cached for the app
            response = await call_next(request)
            response.headers["x-passed"] = "1"
            return response

    return Passing


def starlette_app(recorder: Recorder, stack: str) -> Any:
    endpoints = _starlette_endpoints(recorder)
    if stack == "fastapi":
        from fastapi import FastAPI

        fast = FastAPI()
        for path, fn in endpoints.items():
            fast.add_api_route(path, fn, methods=["POST"])
        fast.add_middleware(AbortOnDisconnect)
        return fast
    from starlette.applications import Starlette
    from starlette.routing import Route

    app = Starlette(routes=[Route(path, fn, methods=["POST"]) for path, fn in endpoints.items()])
    if stack == "starlette":
        app.add_middleware(AbortOnDisconnect)
    elif stack == "base-inside":  # add_middleware() puts the last one added outermost
        app.add_middleware(_passing_base_middleware())
        app.add_middleware(AbortOnDisconnect)
    elif stack == "base-outside":
        app.add_middleware(AbortOnDisconnect)
        app.add_middleware(_passing_base_middleware())
    else:
        raise ValueError(stack)
    return app


def make_app(recorder: Recorder, stack: str) -> Any:
    return raw_app(recorder) if stack == "raw" else starlette_app(recorder, stack)
