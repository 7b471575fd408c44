"""The exception hierarchy.

``AbortError`` is what callers catch. ``AbortUnwind`` is internal plumbing: a
``BaseException`` raised *inside* an SDK call (from the network layer) so that the
SDK's ``except Exception`` retry loops cannot catch it, wrap it, or retry the request.
It is turned into ``AbortError`` at the first abortkit boundary it crosses
(``abort_scope``, ``close_on_abort``, ``abortable_iter``, ``@abortable``). This is the
same design as trio's ``Cancelled`` and asyncio's ``CancelledError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AbortError", "AbortUnwind"]


class AbortError(Exception):
    """The operation stopped because its abort signal tripped.

    Attributes:
        reason: the abort reason exactly as given to ``AbortController.abort`` (any type).
        partial: what the interrupted call had produced before the abort (for a
            provider: the text so far and the complete tool calls), or ``None``.
            A truncated answer is never returned as if it were complete; it travels
            here instead, so the caller keeps it and still knows it was cut short.
    """

    reason: Any
    partial: Any

    def __init__(self, reason: Any = None, *, partial: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.partial = partial

    def __str__(self) -> str:
        if self.reason is None:
            return "aborted"
        return f"aborted: {self.reason!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep ``partial`` across pickling (multiprocessing, concurrent.futures).
        return (_rebuild_abort_error, (type(self), self.reason, self.partial))


def _rebuild_abort_error(cls: type[AbortError], reason: Any, partial: Any) -> AbortError:
    return cls(reason, partial=partial)


class AbortUnwind(BaseException):
    """Internal: unwinds an SDK call from the network layer without being retried.

    Every abortkit boundary (``abort_scope``, ``close_on_abort``, ``abortable_iter``,
    ``@abortable``) turns it into ``AbortError``. One way past them exists: a task
    created inside a scope inherits the scope (a context variable), and if that task is
    awaited *outside* any boundary, its ``AbortUnwind`` reaches the awaiting code. Await
    such tasks inside the scope (or wrap the await in ``abort_scope(signal)``).
    """

    reason: Any

    def __init__(self, reason: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
