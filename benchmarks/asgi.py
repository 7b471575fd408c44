"""(h) ``abortkit.asgi``: from a client's close to its request's signal tripping, per server and phase.

Real servers in this process (uvicorn with its h11 protocol, hypercorn on asyncio and on trio,
each on its own thread and loop), a raw-socket client that closes (FIN) at a chosen moment:

* ``waiting``: the endpoint has read the body and waits for its upstream's first token; it has
  sent nothing and reads nothing (the headers wait of a proxy in front of a thinking model);
* ``mid-stream``: the endpoint has sent headers and a first chunk and waits for the next.

Series, in the same run and on the same servers:

* ``abortkit``: ``AbortOnDisconnect``; the endpoint only waits on ``request_signal()``; the
  time is taken in the signal's listener;
* ``floor``: no middleware; the endpoint itself waits in ``receive()`` for ``http.disconnect``:
  the soonest the server lets any code know. (An endpoint that does not wait in ``receive()``,
  the LiteLLM case, learns nothing at all, or only at its next poll.)

Both clocks are the same ``time.monotonic()``: the client's reading just before ``close()`` and
the endpoint's when it learnt of it.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
from abortkit_cli.stats import summary

from abortkit.asgi import AbortOnDisconnect, request_signal
from abortkit.testing._asgi_server import SERVERS, running

PHASES = ("waiting", "mid-stream")
SERIES = ("abortkit", "floor")
TRIALS = 100
QUICK_TRIALS = 10
HOLD = 10.0
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true}'


class _Trial:
    __slots__ = ("learnt", "learnt_at", "reached")

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.learnt = threading.Event()
        self.learnt_at: float | None = None

    def learn(self) -> None:
        if self.learnt_at is None:
            self.learnt_at = time.monotonic()
        self.learnt.set()


class _Board:
    """Trials by id: the client thread creates them, the server's endpoint fills them in."""

    def __init__(self) -> None:
        self._trials: dict[str, _Trial] = {}
        self._lock = threading.Lock()

    def new(self, id_: str) -> _Trial:
        trial = _Trial()
        with self._lock:
            self._trials[id_] = trial
        return trial

    def get(self, id_: str) -> _Trial:
        with self._lock:
            return self._trials[id_]


async def _read_body(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _app(board: _Board, series: str) -> Any:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        trial = board.get(query["id"])
        event = anyio.Event()
        if series == "abortkit":
            signal = request_signal(scope)
            signal.add_listener(trial.learn)
            signal.add_listener(event.set)
        await _read_body(receive)
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
        trial.reached.set()
        if series == "abortkit":
            with anyio.move_on_after(HOLD):
                await event.wait()
        else:
            with anyio.move_on_after(HOLD):
                while (await receive())["type"] != "http.disconnect":
                    pass
                trial.learn()

    return AbortOnDisconnect(endpoint) if series == "abortkit" else endpoint


def _one(url: str, board: _Board, path: str, id_: str) -> float:
    """One trial: open, reach the phase, close; seconds from the close to the endpoint knowing."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    trial = board.new(id_)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = f"POST {path}?id={id_} HTTP/1.1\r\nhost: {parts.netloc}\r\ncontent-length: {len(BODY)}\r\n\r\n"
        sock.sendall(head.encode() + BODY)
        if not trial.reached.wait(10):
            raise RuntimeError("the endpoint never reached its waiting point")
        if path == "/stream":
            received = b""
            while b"first\n" not in received:
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed before the first chunk")
                received += data
    except BaseException:
        sock.close()
        raise
    closed_at = time.monotonic()
    sock.close()
    if not trial.learnt.wait(10) or trial.learnt_at is None:
        raise RuntimeError("the endpoint never learnt that the client left")
    return trial.learnt_at - closed_at


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Per server, both series served side by side and their trials interleaved, so that a burst
    of load from elsewhere on the machine falls on both alike."""
    trials = QUICK_TRIALS if quick else TRIALS
    ids = itertools.count()
    cells: list[dict[str, Any]] = []
    for server in SERVERS:
        boards = {series: _Board() for series in SERIES}
        with contextlib.ExitStack() as stack:
            urls = {series: stack.enter_context(running(_app(boards[series], series), server)) for series in SERIES}
            for series in SERIES:
                for _ in range(3):  # warm-up: first connections, imports, code paths
                    _one(urls[series], boards[series], "/wait", f"w{next(ids)}")
            for phase in PHASES:
                path = "/wait" if phase == "waiting" else "/stream"
                samples: dict[str, list[float]] = {series: [] for series in SERIES}
                errors: dict[str, list[str]] = {series: [] for series in SERIES}
                for _ in range(trials):
                    for series in SERIES:
                        try:
                            samples[series].append(_one(urls[series], boards[series], path, f"t{next(ids)}"))
                        except (RuntimeError, OSError) as exc:
                            errors[series].append(f"{type(exc).__name__}: {exc}")
                for series in SERIES:
                    stats = summary(samples[series])
                    log(
                        f"  {server} {phase} {series}: p50 {stats['p50'] * 1e3:.3f} ms, "
                        f"p99 {stats['p99'] * 1e3:.3f} ms ({len(samples[series])} trials, "
                        f"{len(errors[series])} errors)"
                    )
                    cells.append(
                        {
                            "server": server,
                            "phase": phase,
                            "series": series,
                            "samples": samples[series],
                            "summary": stats,
                            "errors": errors[series],
                        }
                    )
    return {"trials": trials, "cells": cells}
