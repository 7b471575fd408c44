"""Clients that leave at a chosen moment: a raw socket (every phase, byte-exact) and httpx2."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit


class RawRequest:
    """One HTTP/1.1 request written by hand on a real socket, so the test decides every byte."""

    def __init__(self, base_url: str, path: str, body: bytes = b"{}", *, send_body: bool = True,
                 headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = [f"POST {path} HTTP/1.1", f"host: {parts.netloc}", f"content-length: {len(body)}",
                "content-type: application/json"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if send_body:
            self.sock.sendall(body)
        self.received = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        """Read until ``marker`` has arrived (response head, a chunk); returns everything so far."""
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"connection closed before {marker!r}; got {self.received!r}")
            self.received += data
        return self.received

    def read_all(self, timeout: float = 5.0) -> bytes:
        """Read until the server closes the connection."""
        self.sock.settimeout(timeout)
        while data := self.sock.recv(65536):
            self.received += data
        return self.received

    def close(self) -> float:
        """Close the connection (FIN); returns the moment just before, on the monotonic clock."""
        at = time.monotonic()
        self.sock.close()
        return at
