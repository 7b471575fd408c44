"""Real ASGI servers on free loopback ports, in this process (one thread and loop each).

Used by abortkit's own tests and benchmarks of ``abortkit.asgi`` (private: not part of
``abortkit.testing``'s API). In-process on purpose: the server's records and the test's clock are one ``time.monotonic()``,
so "the signal tripped 1.2 ms after the client closed" is a difference of two readings of the
same clock. The listening socket is bound here (port 0) and handed to the server, so there is
no free-port race.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["SERVERS", "running"]

SERVERS = ("uvicorn", "hypercorn", "hypercorn-trio")
"""uvicorn (its h11 protocol), hypercorn on asyncio, hypercorn on trio."""


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _wait_accepting(port: int, thread: threading.Thread, failure: list[BaseException]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if failure:
            raise RuntimeError(f"the server failed to start: {failure[0]!r}")
        if not thread.is_alive():
            raise RuntimeError("the server thread ended before serving")
        # The socket listens from the start; "ready" is the server having its accept loop up,
        # which a completed HTTP exchange proves.
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
            probe.sendall(b"GET /__ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            if probe.recv(1):
                return
        time.sleep(0.02)
    raise RuntimeError("the server did not start within 20 s")


_Runner = tuple[Callable[[], None], Callable[[], None]]
"""``(run, stop)``: ``run`` serves on the calling thread until ``stop`` (from another thread)."""


def _uvicorn(app: Any, sock: socket.socket) -> _Runner:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="off", http="h11", access_log=False)
    server = uvicorn.Server(config)

    def run() -> None:
        asyncio.run(server.serve(sockets=[sock]))

    def stop() -> None:
        server.should_exit = True

    return run, stop


def _hypercorn_config(sock: socket.socket) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the descriptor
    config.loglevel = "WARNING"
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    config.keep_alive_timeout = 60
    return config


def _hypercorn_asyncio(app: Any, sock: socket.socket) -> _Runner:
    from hypercorn.asyncio import serve

    config = _hypercorn_config(sock)
    loop = asyncio.new_event_loop()
    done = asyncio.Event()

    def run() -> None:
        try:
            loop.run_until_complete(serve(app, config, shutdown_trigger=done.wait, mode="asgi"))
        finally:
            loop.close()

    def stop() -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(done.set)

    return run, stop


def _hypercorn_trio(app: Any, sock: socket.socket) -> _Runner:
    import trio
    from hypercorn.trio import serve

    config = _hypercorn_config(sock)
    token: list[trio.lowlevel.TrioToken] = []
    done = trio.Event()

    async def main() -> None:
        token.append(trio.lowlevel.current_trio_token())
        await serve(app, config, shutdown_trigger=done.wait, mode="asgi")

    def run() -> None:
        trio.run(main)

    def stop() -> None:
        deadline = time.monotonic() + 5
        while not token and time.monotonic() < deadline:
            time.sleep(0.01)
        with contextlib.suppress(RuntimeError):  # the run already ended
            token[0].run_sync_soon(done.set)

    return run, stop


_RUNNERS: dict[str, Callable[[Any, socket.socket], _Runner]] = {
    "uvicorn": _uvicorn,
    "hypercorn": _hypercorn_asyncio,
    "hypercorn-trio": _hypercorn_trio,
}


@contextlib.contextmanager
def running(app: Any, kind: str) -> Iterator[str]:
    """Serve ``app`` with server ``kind`` (one of ``SERVERS``); yields ``http://127.0.0.1:PORT``.

    Requests to ``/__ready`` are answered by the harness itself (204), not by ``app``.
    """
    factory = _RUNNERS.get(kind)
    if factory is None:
        raise ValueError(f"unknown server {kind!r}; choose from {SERVERS}")
    sock = _listener()
    port = sock.getsockname()[1]
    failure: list[BaseException] = []
    serve, stop = factory(_ready_probe(app), sock)

    def run() -> None:
        try:
            serve()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"asgi-{kind}", daemon=True)
    thread.start()
    try:
        _wait_accepting(port, thread, failure)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()
        thread.join(15)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"{kind} did not stop")
    if failure:
        raise RuntimeError(f"{kind} failed: {failure[0]!r}") from failure[0]


def _ready_probe(app: Any) -> Any:
    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/__ready":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return wrapper
