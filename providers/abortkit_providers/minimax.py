"""Minimax through its Anthropic-compatible endpoint: a ``with`` block and ``get_final_message``."""

from __future__ import annotations

from typing import Any

import anthropic

from abortkit import AbortSignal, abortable_iter, close_on_abort

from ._accumulate import Accumulator
from ._anthropic_format import apply_message, create_args
from ._base import ChatRequest, Provider

__all__ = ["MinimaxProvider"]


class MinimaxProvider(Provider):
    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        return (anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic)(**options)

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        args = create_args(self.model, request)
        with self.sdk_client().messages.stream(**args) as stream, close_on_abort(signal, stream):
            for text in abortable_iter(stream.text_stream, signal):
                acc.text(text)
            final = stream.get_final_message()
        apply_message(final, acc, text=False)  # the text was streamed; take tool calls and usage

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        args = create_args(self.model, request)
        async with self.sdk_client(True).messages.stream(**args) as stream, close_on_abort(signal, stream):
            async for text in abortable_iter(stream.text_stream, signal):
                acc.text(text)
            final = await stream.get_final_message()
        apply_message(final, acc, text=False)
