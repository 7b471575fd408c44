"""The OpenAI Responses API (``client.responses.create(stream=True)``), OpenAI's current API.

Text from ``response.output_text.delta``, thinking from the reasoning summary (and from raw
reasoning text, which open-weight models served behind the API send), tool calls when their
``function_call`` item is done, the stop reason and usage from ``response.completed`` (or
``response.incomplete``: ``stop_reason`` is then why, e.g. ``max_output_tokens``). An
``error`` event or ``response.failed`` raises ``openai.APIError``, as the chat-completions
stream does for its error events.

The raw event stream is used rather than ``responses.stream()``: it is the SDK's ``Stream``,
whose HTTP response ``close_on_abort`` reaches (the helper's wrapper hides it).
"""

from __future__ import annotations

from typing import Any

import openai

from abortkit import AbortSignal, abortable_iter, close_on_abort

from ._accumulate import Accumulator
from ._base import ChatRequest, Provider
from ._history import system_text
from ._types import Message, ToolCall, Usage

__all__ = ["OpenAIResponsesProvider"]


def _items(message: Message) -> list[dict[str, Any]]:
    role = message["role"]
    if role == "tool":
        return [{"type": "function_call_output", "call_id": message.get("tool_call_id", ""), "output": message["content"]}]
    items: list[dict[str, Any]] = []
    if message["content"] or not message.get("tool_calls"):
        items.append({"role": role, "content": message["content"]})
    items += [
        {"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments}
        for c in message.get("tool_calls", ())
    ]
    return items


class OpenAIResponsesProvider(Provider):
    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        return (openai.AsyncOpenAI if asynchronous else openai.OpenAI)(**options)

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "input": [item for m in request.messages if m["role"] != "system" for item in _items(m)],
            "max_output_tokens": request.max_tokens,
            "stream": True,
        }
        system = system_text(request.messages)
        if system:
            args["instructions"] = system
        if request.tools:
            args["tools"] = [
                {"type": "function", **{k: t[k] for k in ("name", "description", "parameters")}} for t in request.tools
            ]
        return args

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        stream = self.sdk_client().responses.create(**self._create_args(request))
        with close_on_abort(signal, stream):
            for event in abortable_iter(stream, signal):
                _apply(event, acc, stream)

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        stream = await self.sdk_client(asynchronous=True).responses.create(**self._create_args(request))
        async with close_on_abort(signal, stream):
            async for event in abortable_iter(stream, signal):
                _apply(event, acc, stream)


def _apply(event: Any, acc: Accumulator, stream: Any) -> None:
    """Feed one Responses stream event to the accumulator."""
    kind = event.type
    if kind == "response.output_text.delta":
        acc.text(event.delta)
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        acc.thinking(event.delta)
    elif kind == "response.output_item.done" and event.item.type == "function_call":
        item = event.item
        acc.tool_call(ToolCall(item.call_id, item.name, item.arguments or "{}"))
    elif kind in ("response.completed", "response.incomplete"):
        response = event.response
        details = response.incomplete_details
        acc.stop_reason = (details.reason if details is not None else None) or response.status or kind
        if response.usage is not None:
            acc.usage = Usage(response.usage.input_tokens, response.usage.output_tokens)
    elif kind in ("error", "response.failed"):
        error = event.response.error if kind == "response.failed" else event
        message = getattr(error, "message", None) or "the response failed"
        raise openai.APIError(message, request=stream.response.request, body=event.to_dict())
