"""OpenAI-compatible chat completions (OpenAI, LiteLLM, vLLM, DeepSeek, GLM and the like).

Thinking streamed as ``delta.reasoning_content`` is kept as ``ChatResult.thinking``.
"""

from __future__ import annotations

from typing import Any

import openai

from abortkit import AbortSignal, abortable_iter, close_on_abort

from ._accumulate import Accumulator
from ._base import ChatRequest, Provider
from ._types import Message, Usage

__all__ = ["OpenAICompatibleProvider"]


def _message(message: Message) -> dict[str, Any]:
    converted: dict[str, Any] = {"role": message["role"], "content": message["content"]}
    if message.get("tool_call_id"):
        converted["tool_call_id"] = message["tool_call_id"]
    if message.get("tool_calls"):
        converted["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message["tool_calls"]
        ]
    return converted


class OpenAICompatibleProvider(Provider):
    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        return (openai.AsyncOpenAI if asynchronous else openai.OpenAI)(**options)

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            args["tools"] = [
                {"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")}}
                for t in request.tools
            ]
        return args

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        stream = self.sdk_client().chat.completions.create(**self._create_args(request))
        with close_on_abort(signal, stream):
            for chunk in abortable_iter(stream, signal):
                _apply(chunk, acc)

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        stream = await self.sdk_client(asynchronous=True).chat.completions.create(**self._create_args(request))
        async with close_on_abort(signal, stream):
            async for chunk in abortable_iter(stream, signal):
                _apply(chunk, acc)


def _apply(chunk: Any, acc: Accumulator) -> None:
    """Feed one ``chat.completion.chunk`` to the accumulator."""
    if chunk.usage is not None:
        acc.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    for choice in chunk.choices or ():
        delta = choice.delta
        for call in delta.tool_calls or ():
            acc.tool_calls_done_before(call.index)  # a later index starts: earlier calls are complete
            function = call.function
            acc.tool_call_delta(
                call.index,
                id=call.id,
                name=function.name if function else None,
                arguments=(function.arguments or "") if function else "",
            )
        # Reasoning servers and proxies (DeepSeek, vLLM, LiteLLM) stream the thinking as
        # `reasoning_content`, a field the SDK keeps as an extra attribute of the delta.
        reasoning = getattr(delta, "reasoning_content", None)
        if isinstance(reasoning, str) and reasoning:
            acc.thinking(reasoning)
        if delta.content:
            acc.text(delta.content)
        if choice.finish_reason:
            acc.stop_reason = choice.finish_reason
            acc.tool_calls_done_before(None)

