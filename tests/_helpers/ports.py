"""Loopback ports with a known behaviour, for the "connecting" phase of abort tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def black_hole() -> Iterator[int]:
    """A port whose connects hang: backlog 0, one connection parked in the queue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    parked = socket.create_connection(("127.0.0.1", port))
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
    except OSError:
        pass  # the premise holds: a further connect hangs
    else:
        raise AssertionError("a connect to the black-hole port did not hang")
    finally:
        probe.close()
    try:
        yield port
    finally:
        parked.close()
        listener.close()
