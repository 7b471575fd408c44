"""Ollama's ``/api/chat`` through the ollama client (``Client.chat(stream=True)``, and async).

The ollama client is httpx-based and keeps its ``httpx.Client`` as ``_client``, so
``instrument()`` reaches it as it does the openai/anthropic SDKs. It builds that client
itself from keyword arguments, so this provider takes no ``http_client``: pass
``client=ollama.Client(host, verify=...)`` (or ``async_client=``) to configure TLS or proxies.
``api_key`` is sent as ``Authorization: Bearer`` (Ollama's cloud; a local server ignores it).
``max_retries`` does not apply: the ollama client never retries.

The stream is a generator that sends the request on its first ``next``; a read blocked in a
thinking gap is woken by the instrumented network layer (``close_on_abort`` cannot close a
running generator from another thread). Ollama's tool calls carry no id: they are numbered
``call_0``, ``call_1``... in the order they arrive, and a later ``tool`` message names its
call by that id.
"""

from __future__ import annotations

import json
from typing import Any

import ollama

from abortkit import AbortSignal, abortable_iter

from ._accumulate import Accumulator
from ._base import ChatRequest, Provider
from ._checks import check_slot
from ._history import arguments_object, tool_call_names
from ._types import Message, ToolCall, Usage

__all__ = ["OllamaProvider"]


def _message(message: Message, names: dict[str, str]) -> dict[str, Any]:
    converted: dict[str, Any] = {"role": message["role"], "content": message["content"]}
    if message["role"] == "tool":
        converted["tool_name"] = names.get(message.get("tool_call_id", ""), "")
    if message.get("tool_calls"):
        converted["tool_calls"] = [
            {"function": {"name": c.name, "arguments": arguments_object(c.arguments)}} for c in message["tool_calls"]
        ]
    return converted


class OllamaProvider(Provider):
    """``base_url`` is the Ollama host (``http://localhost:11434``)."""

    def _check_client(self, name: str, given: Any, asynchronous: bool) -> None:
        if not isinstance(given, (ollama.Client, ollama.AsyncClient)):
            raise TypeError(f"{name} must be an ollama Client or AsyncClient, not {type(given).__name__}")
        check_slot(name, isinstance(given, ollama.AsyncClient), asynchronous)

    def _check_http_client(self, http_client: Any) -> None:
        raise TypeError(
            "OllamaProvider takes no http_client: the ollama client builds its own httpx client; "
            "pass client=ollama.Client(host, verify=...) (or async_client=) instead"
        )

    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        cls = ollama.AsyncClient if asynchronous else ollama.Client
        return cls(host=options["base_url"], headers={"authorization": f"Bearer {options['api_key']}"})

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        names = tool_call_names(request.messages)
        args: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m, names) for m in request.messages],
            "stream": True,
            "options": {"num_predict": request.max_tokens},
        }
        if request.tools:
            args["tools"] = [
                {"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters")}}
                for t in request.tools
            ]
        return args

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        for chunk in abortable_iter(self.sdk_client().chat(**self._create_args(request)), signal):
            _apply(chunk, acc)

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        chunks = await self.sdk_client(True).chat(**self._create_args(request))
        async for chunk in abortable_iter(chunks, signal):
            _apply(chunk, acc)


def _apply(chunk: Any, acc: Accumulator) -> None:
    """Feed one ``ChatResponse`` line to the accumulator."""
    message = chunk.message
    if message.thinking:
        acc.thinking(message.thinking)
    if message.content:
        acc.text(message.content)
    for call in message.tool_calls or ():
        arguments = json.dumps(dict(call.function.arguments), separators=(",", ":"))
        acc.tool_call(ToolCall(f"call_{acc.tool_call_count}", call.function.name, arguments))
    if chunk.done:
        acc.stop_reason = chunk.done_reason or "stop"
        acc.usage = Usage(chunk.prompt_eval_count, chunk.eval_count)
