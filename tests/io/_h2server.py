"""A real HTTP/2 server on loopback for ``test_http2.py``: hypercorn over TLS (trustme
certificate, ALPN ``h2``), or over plain TCP with HTTP/2 by prior knowledge ("h2c",
``tls=False``), serving a tiny ASGI app that streams SSE with scripted gaps.

``POST /stream?name=N&chunks=C&gap=G&first_gap=F`` streams ``data: N-0``, waits ``F`` seconds,
then ``data: N-1`` .. ``data: N-{C-1}`` with ``G`` seconds between them, then ``data: [DONE]``.
Every request is recorded (its HTTP version, the client's address, which identifies the
connection, and whether/when the server saw the stream go away).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import trustme


@dataclass
class H2Record:
    name: str
    http_version: str
    client: tuple[str, int]
    started_at: float
    finished_at: float | None = None
    disconnected_at: float | None = None


def expected_body(name: str, chunks: int) -> bytes:
    return b"".join(f"data: {name}-{i}\n\n".encode() for i in range(chunks)) + b"data: [DONE]\n\n"


class H2Server:
    def __init__(self, *, tls: bool = True) -> None:
        self.tls = tls
        self.records: dict[str, H2Record] = {}
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        self._dir = tempfile.mkdtemp(prefix="abortkit-h2-")
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.error: BaseException | None = None

    # -- the ASGI app ----------------------------------------------------------------------
    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        name = query.get("name", "s")
        chunks = int(query.get("chunks", "3"))
        gap = float(query.get("gap", "0"))
        first_gap = float(query.get("first_gap", str(gap)))
        record = H2Record(name, scope["http_version"], tuple(scope["client"]), time.monotonic())
        with self._lock:
            self.records[name] = record
        while (await receive())["type"] == "http.request":  # the request body
            break
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    record.disconnected_at = time.monotonic()
                    gone.set()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            for index in range(chunks):
                if index:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(gone.wait(), first_gap if index == 1 else gap)
                    if gone.is_set():
                        return
                await send(
                    {"type": "http.response.body", "body": f"data: {name}-{index}\n\n".encode(), "more_body": True}
                )
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
            record.finished_at = time.monotonic()
        finally:
            watcher.cancel()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> H2Server:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{listener.detach()}"]
        if self.tls:
            cert = self._ca.issue_cert("127.0.0.1")
            certfile = os.path.join(self._dir, "cert.pem")
            keyfile = os.path.join(self._dir, "key.pem")
            cert.private_key_pem.write_to_path(keyfile)
            cert.cert_chain_pems[0].write_to_path(certfile)
            config.certfile, config.keyfile = certfile, keyfile
            config.alpn_protocols = ["h2"]
        config.h2_max_concurrent_streams = 1000
        config.keep_alive_timeout = 60
        config.graceful_timeout = 1
        config.loglevel = "WARNING"
        config.accesslog = None
        config.errorlog = None

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            try:
                loop.run_until_complete(self._serve(serve, config))
            except BaseException as exc:
                self.error = exc
                self._ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="h2-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(20) or self.error is not None:
            raise RuntimeError(f"the HTTP/2 server did not start: {self.error!r}")
        return self

    async def _serve(self, serve: Any, config: Any) -> None:
        assert self._stop is not None
        task = asyncio.ensure_future(serve(self.app, config, shutdown_trigger=self._stop.wait))
        # Ready once it accepts a (TLS) connection.
        ctx = self.ssl_context() if self.tls else None
        for _ in range(400):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=ctx)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        self._ready.set()
        await task

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        for name in os.listdir(self._dir):
            os.unlink(os.path.join(self._dir, name))
        os.rmdir(self._dir)

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        return ctx

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def url(self, name: str, chunks: int, gap: float, first_gap: float | None = None) -> str:
        first = gap if first_gap is None else first_gap
        return f"{self.base_url}/stream?name={name}&chunks={chunks}&gap={gap}&first_gap={first}"

    def wait_for_disconnect(self, name: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = self.records.get(name)
            if record is not None and record.disconnected_at is not None:
                return record.disconnected_at
            time.sleep(0.01)
        return None


@contextlib.contextmanager
def h2_server(*, tls: bool = True) -> Iterator[H2Server]:
    server = H2Server(tls=tls).start()
    try:
        yield server
    finally:
        server.stop()
