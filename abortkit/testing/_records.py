"""What the loopback services saw: one record per request, written by the service, read by tests.

Why records carry monotonic timestamps: the claims abortkit's tests make are about time ("the
connection was closed within 5 ms of the abort", "headers only arrived after the model started").
The service and the test run in one process, so ``time.monotonic()`` on both sides is one clock
and the differences are directly comparable.
"""

from __future__ import annotations

import json as _json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._script import ScriptLike

__all__ = ["ProxiedRequest", "RecordedRequest", "RequestLog"]


@dataclass(eq=False)
class RecordedRequest:
    """One HTTP request as the service received it, and what became of its response.

    The request fields are fixed on arrival; the outcome fields (``responded_headers_at``,
    ``finished_at``, ``disconnected_at``, ``completed``) are filled in by the service thread as
    the response goes out. Read them after :meth:`RequestLog.wait_for_disconnect` or once the
    client is done; :class:`RequestLog` makes the updates visible under its lock.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    """Header names lower-cased; a repeated header keeps its values joined by ``", "``."""
    body: bytes
    received_at: float
    """Monotonic time the whole request (head and body) had been read."""
    connection_id: int
    """Which accepted connection carried it: equal ids mean keep-alive reuse."""
    dialect: str | None = None
    """``"openai"``, ``"openai-responses"``, ``"anthropic"``, ``"minimax"``, ``"gemini"``, ``"ollama"``,
    ``"bedrock"``, or None for a path the service does not serve."""
    stream: bool = False
    script: ScriptLike | None = None
    """The script (or HTTP error) used to answer it."""
    responded_headers_at: float | None = None
    """Monotonic time the status line and headers were written (None: never)."""
    finished_at: float | None = None
    """Monotonic time the last byte of the response was written (None: never)."""
    disconnected_at: float | None = None
    """Monotonic time the service saw the client close or reset the connection while serving
    this request or while idle after it (None: not seen, e.g. the service closed it first)."""
    completed: bool = False
    """Whether the whole script was delivered."""
    json: Any = field(default=None, init=False)
    """The body parsed as JSON, or None if it is not JSON."""

    def __post_init__(self) -> None:
        if self.body:
            try:
                self.json = _json.loads(self.body)
            except ValueError:
                self.json = None


@dataclass(eq=False)
class ProxiedRequest(RecordedRequest):
    """A request as a :class:`~abortkit.testing.BufferingProxy` relayed it.

    ``responded_headers_at`` and ``disconnected_at`` refer to the client side of the proxy.
    """

    upstream_headers_at: float | None = None
    """Monotonic time the upstream's response headers reached the proxy."""
    upstream_first_body_at: float | None = None
    """Monotonic time the upstream's first body byte reached the proxy."""


class RequestLog:
    """Thread-safe list of records with waits for "n requests arrived" and "client went away"."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._records: list[RecordedRequest] = []

    def add(self, record: RecordedRequest) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()

    def update(self, record: RecordedRequest, **changes: Any) -> None:
        """Set outcome fields of ``record`` and wake waiters."""
        with self._cond:
            for name, value in changes.items():
                setattr(record, name, value)
            self._cond.notify_all()

    def mark_disconnected(self, record: RecordedRequest | None, at: float) -> None:
        """Record the first time the client was seen leaving during or after ``record``."""
        if record is None:
            return
        with self._cond:
            if record.disconnected_at is None:
                record.disconnected_at = at
            self._cond.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._records)

    def count(self) -> int:
        with self._cond:
            return len(self._records)

    def clear(self) -> None:
        with self._cond:
            self._records.clear()

    def wait_for_count(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            return self._cond.wait_for(lambda: len(self._records) >= n, timeout=max(0.0, deadline - time.monotonic()))

    def wait_for_disconnect(self, record: RecordedRequest, timeout: float) -> float | None:
        with self._cond:
            self._cond.wait_for(lambda: record.disconnected_at is not None, timeout=timeout)
            return record.disconnected_at
