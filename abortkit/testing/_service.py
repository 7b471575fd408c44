"""Lifecycle shared by the loopback services: listen, accept, one thread per connection, stop.

Why threads and not asyncio: the services must keep exact timing while the code under test runs
either sync or async clients in the same process, and must not depend on the test's event loop.
A thread per connection (kept cheap: every thread only ever sleeps in ``poll``) serves 1,000
concurrent streams on loopback, and ``stop()`` can end them all at once through one shared
:class:`~abortkit.testing._net.Wake`, then join every thread, so a test can check that nothing
(no thread, no descriptor) is left behind.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from ._net import Channel, PeerGone, Stopping, Wake, wait_socket
from ._records import RecordedRequest, RequestLog
from ._tls import TLSMaterial

if TYPE_CHECKING:
    import trustme

__all__ = ["LoopbackService"]

_S = TypeVar("_S", bound="LoopbackService")

LISTEN_BACKLOG = 4096
"""Requested accept queue (the kernel caps it at ``net.core.somaxconn``): 1,000 clients may
connect in the same instant."""

STOP_JOIN_TIMEOUT = 10.0


class LoopbackService(ABC):
    """A TCP (optionally TLS) service on a loopback address with an ephemeral port.

    Subclasses implement :meth:`_serve`, which runs in the connection's own thread and may block
    only through the channel (whose waits end when the service stops).
    """

    def __init__(self, *, tls: bool = False, host: str = "127.0.0.1") -> None:
        name = type(self).__name__
        if not isinstance(tls, bool):
            raise TypeError(f"{name}(tls=...) must be a bool, not {type(tls).__name__}")
        if not isinstance(host, str):
            raise TypeError(f"{name}(host=...) must be a str (an IP address to listen on), not {type(host).__name__}")
        if not host:
            raise ValueError(f"{name}(host=...) must not be empty")
        self._tls_enabled = tls
        self._host = host
        self._tls: TLSMaterial | None = None
        self._server_ctx: ssl.SSLContext | None = None
        self._wake: Wake | None = None
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: dict[int, threading.Thread] = {}
        self._threads_lock = threading.Lock()
        self._conn_ids = itertools.count(1)
        self._started = False
        self._stopped = False
        self._log = RequestLog()
        self.errors: list[BaseException] = []
        """Unexpected exceptions raised while serving (a bug in the service or a broken peer)."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self: _S) -> _S:
        """Bind, listen and start accepting; the service is reachable when this returns."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__} can only be started once")
        # Everything is built into locals first and published only once the accept thread
        # runs: a failed start() leaves no socket, TLS file or thread, and stop() a no-op.
        tls: TLSMaterial | None = None
        listener: socket.socket | None = None
        wake: Wake | None = None
        try:
            server_ctx: ssl.SSLContext | None = None
            if self._tls_enabled:
                tls = TLSMaterial(self._host)
                server_ctx = tls.server_context()
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            listener.bind((self._host, 0))
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
            port = listener.getsockname()[1]
            wake = Wake()
            self._tls, self._server_ctx, self._listener, self._port, self._wake = tls, server_ctx, listener, port, wake
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name=f"abortkit-{type(self).__name__}-accept", daemon=True
            )
            self._accept_thread.start()
        except BaseException:
            self._tls = self._server_ctx = self._listener = self._port = self._wake = self._accept_thread = None
            if wake is not None:
                wake.close()
            if listener is not None:
                listener.close()
            if tls is not None:
                tls.close()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Close the listener and every live connection, join all threads, remove temp files.

        Idempotent. Raises RuntimeError if a connection thread failed to finish (a bug).
        """
        if not self._started or self._stopped:
            return
        self._stopped = True
        assert self._wake is not None
        self._wake.trip()
        if self._accept_thread is not None:
            self._accept_thread.join()
        if self._listener is not None:
            self._listener.close()
        deadline = time.monotonic() + STOP_JOIN_TIMEOUT
        with self._threads_lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        if not stuck:
            self._wake.close()
        if self._tls is not None:
            self._tls.close()
        if stuck:
            raise RuntimeError(f"connection threads did not stop: {stuck}")

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and TLS -----------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("not started")
        return self._port

    @property
    def tls(self) -> bool:
        return self._tls_enabled

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with TLS), no trailing slash."""
        scheme = "https" if self._tls_enabled else "http"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{scheme}://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """What to pass as ``openai.OpenAI(base_url=...)``: the base URL plus ``/v1``."""
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What to pass as ``anthropic.Anthropic(base_url=...)`` (the SDK appends ``/v1/messages``)."""
        return self.base_url

    @property
    def minimax_base_url(self) -> str:
        """Minimax's Anthropic-compatible endpoint: ``POST {this}/v1/messages``."""
        return self.base_url + "/minimax"

    @property
    def gemini_base_url(self) -> str:
        """What to pass as google-genai's ``HttpOptions(base_url=...)`` (the SDK appends
        ``/v1beta/models/{model}:streamGenerateContent``)."""
        return self.base_url

    @property
    def ollama_base_url(self) -> str:
        """What to pass as ``ollama.Client(host=...)`` (the client appends ``/api/chat``)."""
        return self.base_url

    @property
    def bedrock_base_url(self) -> str:
        """What to pass as boto3's ``endpoint_url`` for ``bedrock-runtime`` (the client appends
        ``/model/{modelId}/converse-stream``)."""
        return self.base_url

    def _material(self) -> TLSMaterial:
        if self._tls is None:
            raise RuntimeError("TLS material exists only for a started service created with tls=True")
        return self._tls

    @property
    def ca(self) -> trustme.CA:
        """The throwaway CA that signed this service's certificate."""
        return self._material().ca

    @property
    def ca_cert_pem_path(self) -> str:
        """Path of the CA certificate (PEM) that clients can trust; removed by :meth:`stop`."""
        path = self._material().ca_cert_pem_path
        if path is None:
            raise RuntimeError("stopped: the CA file was removed")
        return path

    def ssl_context(self) -> ssl.SSLContext:
        """A new client ``SSLContext`` that trusts this service's CA (for ``verify=``)."""
        return self._material().client_context()

    # -- records ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        return self._log.snapshot()

    @property
    def request_count(self) -> int:
        return self._log.count()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` requests have arrived; False on timeout."""
        return self._log.wait_for_count(n, timeout)

    def wait_for_disconnect(self, request: RecordedRequest, timeout: float = 5.0) -> float | None:
        """Block until the client of ``request`` is seen leaving; its monotonic time, or None."""
        return self._log.wait_for_disconnect(request, timeout)

    def clear(self) -> None:
        """Forget the records (scripts and connections are unaffected)."""
        self._log.clear()

    # -- serving ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake is not None
        while True:
            try:
                wait_socket(self._listener, self._wake, None)
            except Stopping:
                return
            while not self._wake.tripped:
                try:
                    sock, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:  # e.g. EMFILE: back off instead of spinning
                    self.errors.append(exc)
                    time.sleep(0.01)
                    break
                self._spawn(sock)

    def _spawn(self, sock: socket.socket) -> None:
        conn_id = next(self._conn_ids)
        thread = threading.Thread(
            target=self._run_connection,
            args=(sock, conn_id),
            name=f"abortkit-{type(self).__name__}-conn-{conn_id}",
            daemon=True,
        )
        with self._threads_lock:
            self._threads[conn_id] = thread
        try:
            thread.start()
        except RuntimeError as exc:  # cannot start a new thread: refuse this connection
            with self._threads_lock:
                del self._threads[conn_id]
            self.errors.append(exc)
            sock.close()

    def _run_connection(self, sock: socket.socket, conn_id: int) -> None:
        assert self._wake is not None
        channel = Channel(sock, self._wake)
        try:
            if self._server_ctx is not None:
                channel.start_tls(self._server_ctx, server_side=True)
            self._serve(channel, conn_id)
        except (PeerGone, Stopping):
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            channel.close()
            with self._threads_lock:
                self._threads.pop(conn_id, None)

    @abstractmethod
    def _serve(self, channel: Channel, conn_id: int) -> None:
        """Serve one connection until it ends; return to close it."""
