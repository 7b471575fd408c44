"""Anthropic messages streaming, with an idle watchdog, a bounded retry and a fallback.

The watchdog counts bytes, not SDK events (the SDK drops ``ping`` events, so a quiet
"thinking" phase would otherwise look dead). After an idle timeout the stream is
retried (``idle_retries`` times, the answer starting again), then, if ``fallback``,
the same request is made without streaming, which the SDK refuses for a large
``max_tokens``; then ``IdleTimeoutError`` is raised. Every step obeys the caller's
signal: an ESC during a retry or the fallback unwinds like any other.
"""

from __future__ import annotations

from typing import Any

import anthropic

from abortkit import (
    AbortError,
    AbortSignal,
    IdleTimeoutError,
    IdleWatchdog,
    abort_scope,
    abortable_iter,
    close_on_abort,
)

from ._accumulate import Accumulator
from ._anthropic_format import apply_event, apply_message, create_args
from ._base import ChatRequest, Provider

__all__ = ["AnthropicProvider"]


class AnthropicProvider(Provider):
    def __init__(
        self, *, idle_timeout: float = 90.0, idle_retries: int = 1, fallback: bool = True, **options: Any
    ) -> None:
        self.idle_timeout, self.idle_retries, self.fallback = idle_timeout, idle_retries, fallback
        super().__init__(**options)

    def _check_options(self) -> None:
        IdleWatchdog(self.idle_timeout)  # validates the timeout now rather than at the first call
        if isinstance(self.idle_retries, bool) or not isinstance(self.idle_retries, int) or self.idle_retries < 0:
            raise ValueError(f"idle_retries must be a non-negative int, not {self.idle_retries!r}")
        if not isinstance(self.fallback, bool):
            raise TypeError(f"fallback must be a bool, not {type(self.fallback).__name__}")

    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        return (anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic)(**options)

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        args = create_args(self.model, request)
        for _attempt in range(self.idle_retries + 1):
            acc.reset()
            with IdleWatchdog(self.idle_timeout, parent=signal) as dog:
                try:
                    with (
                        abort_scope(dog.signal),
                        self.sdk_client().messages.stream(**args) as stream,
                        close_on_abort(dog.signal, stream),
                    ):
                        for event in abortable_iter(stream, dog.signal):
                            apply_event(event, acc)
                    return
                except AbortError as error:
                    idle = _idle_or_raise(dog, error)
        acc.reset()
        try:
            apply_message(self.sdk_client().messages.create(**self._fallback_args(args, idle)), acc)
        except ValueError as refused:  # the SDK refuses non-streaming for a large max_tokens
            raise idle from refused

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        args = create_args(self.model, request)
        for _attempt in range(self.idle_retries + 1):
            acc.reset()
            async with IdleWatchdog(self.idle_timeout, parent=signal) as dog:
                try:
                    async with (
                        abort_scope(dog.signal),
                        self.sdk_client(True).messages.stream(**args) as stream,
                        close_on_abort(dog.signal, stream),
                    ):
                        async for event in abortable_iter(stream, dog.signal):
                            apply_event(event, acc)
                    return
                except AbortError as error:
                    idle = _idle_or_raise(dog, error)
        acc.reset()
        try:
            apply_message(await self.sdk_client(True).messages.create(**self._fallback_args(args, idle)), acc)
        except ValueError as refused:
            raise idle from refused

    def _fallback_args(self, args: dict[str, Any], idle: IdleTimeoutError) -> dict[str, Any]:
        if not self.fallback:
            raise idle
        return args


def _idle_or_raise(dog: IdleWatchdog, error: AbortError) -> IdleTimeoutError:
    """An idle timeout is worth a retry; anything else (the user's abort) propagates."""
    if not dog.timed_out:
        raise error
    idle = dog.signal.reason
    assert isinstance(idle, IdleTimeoutError)
    idle.__cause__ = error
    return idle
