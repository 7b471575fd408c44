"""``StopRequested`` and the stop payload that travels through Redis.

The payload is JSON and only JSON: whatever arrives on a channel or in a key was
written by some process that can reach Redis, so it is parsed as data, never
unpickled or evaluated. A reason is ``None``, a ``str``, or a small JSON value (a dict
of strings and numbers, say), at most ``MAX_REASON_BYTES`` once encoded. A payload that
cannot be read is still a stop (the stream's key or channel says so); it arrives with
``reason=None`` and a warning on the ``abortkit`` logger.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from .._validate import type_name

__all__ = ["MAX_REASON_BYTES", "StopRequested", "decode_stop", "encode_stop"]

logger = logging.getLogger("abortkit")

MAX_REASON_BYTES = 4096
_MAX_PAYLOAD_BYTES = MAX_REASON_BYTES + 256  # room for the envelope around the reason
_VERSION = 1


class StopRequested(Exception):
    """The abort reason of a watch whose stream was stopped through the bus.

    Attributes:
        stream_id: the stream that was stopped.
        reason: what the stopper passed as ``reason`` (``None``, a ``str`` or a small
            JSON value), decoded from JSON.
        issued_at: when the stopper called ``stop()``, as ``time.time()`` on its
            machine (``None`` when the payload could not be read).
    """

    stream_id: str
    reason: Any
    issued_at: float | None

    def __init__(self, stream_id: str, reason: Any = None, issued_at: float | None = None) -> None:
        super().__init__(stream_id, reason)
        self.stream_id = stream_id
        self.reason = reason
        self.issued_at = issued_at

    def __str__(self) -> str:
        if self.reason is None:
            return f"stream {self.stream_id!r} was stopped"
        return f"stream {self.stream_id!r} was stopped: {self.reason!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.stream_id, self.reason, self.issued_at))


def encode_stop(reason: object, what: str = "stop()") -> bytes:
    """The payload for ``reason``, or TypeError/ValueError saying why it cannot travel."""
    if isinstance(reason, bytes | bytearray | memoryview):
        raise TypeError(f"{what} reason must be None, a str or a JSON value, not bytes (decode it first)")
    try:
        encoded = json.dumps(reason, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except TypeError:
        raise TypeError(
            f"{what} reason must be None, a str or a JSON value (dict, list, number, bool), not {type_name(reason)}"
        ) from None
    except (ValueError, RecursionError) as exc:  # NaN or infinity, a cycle, absurd nesting
        raise ValueError(f"{what} reason cannot be encoded as JSON: {exc}") from None
    if len(encoded.encode("utf-8")) > MAX_REASON_BYTES:
        raise ValueError(f"{what} reason is too large: at most {MAX_REASON_BYTES} bytes once encoded as JSON")
    return f'{{"v":{_VERSION},"at":{time.time()!r},"reason":{encoded}}}'.encode()


def decode_stop(stream_id: str, payload: object) -> StopRequested:
    """The ``StopRequested`` a payload from Redis stands for (never raises)."""
    if isinstance(payload, bytes) and len(payload) <= _MAX_PAYLOAD_BYTES:
        try:
            data = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8, bad JSON, absurd nesting
            data = None
        if isinstance(data, dict) and data.get("v") == _VERSION and "reason" in data:
            at = data.get("at")
            issued_at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None
            return StopRequested(stream_id, data["reason"], issued_at)
    logger.warning("stop of stream %r arrived with an unreadable payload; stopping it with reason None", stream_id)
    return StopRequested(stream_id)
