"""HTTP/1.1 message exchange over a :class:`~abortkit.testing._net.Channel`, using h11.

Why h11: it is a sans-IO protocol engine, so the services keep full control of *when* bytes
move (the whole point of a timing-accurate mock) while h11 gets framing right: chunked
encoding, keep-alive, ``Expect: 100-continue``, request bodies read to the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import h11

from ._net import Channel, PeerGone

__all__ = ["MAX_HEAD_SIZE", "header_dict", "read_request", "send_event"]

MAX_HEAD_SIZE = 1 << 20
"""Largest request or response head accepted (h11's default of 16 KiB is small for SDK headers)."""


def send_event(channel: Channel, conn: h11.Connection, event: h11.Event) -> None:
    """Serialise ``event`` with ``conn`` and write it out at once."""
    data = conn.send(event)
    if data:
        channel.send_all(data)


def read_request(channel: Channel, conn: h11.Connection) -> tuple[h11.Request, bytes]:
    """Read one whole request (head and body) from ``channel`` with a server-side ``conn``.

    Raises :class:`PeerGone` if the peer leaves first, ``h11.RemoteProtocolError`` on garbage.
    """
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                send_event(channel, conn, h11.InformationalResponse(status_code=100, headers=[]))
            data = channel.recv()
            assert data is not None  # no deadline: recv returns data or raises
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return head, bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise PeerGone(time.monotonic(), "peer closed the connection")
        elif event is h11.PAUSED:
            raise RuntimeError("h11 paused: start_next_cycle() was not called")


def header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased names to values; repeated headers are joined with ``", "``."""
    out: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
