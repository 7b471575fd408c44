"""The Anthropic messages dialect, shared by ``AnthropicProvider`` and ``MinimaxProvider``."""

from __future__ import annotations

import json
from typing import Any

from ._accumulate import Accumulator
from ._base import ChatRequest
from ._types import ToolCall, Usage

__all__ = ["apply_event", "apply_message", "create_args"]


def create_args(model: str, request: ChatRequest) -> dict[str, Any]:
    system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
    messages: list[dict[str, Any]] = []
    for message in request.messages:
        role = message["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", "")}
            messages.append({"role": "user", "content": [{**block, "content": message["content"]}]})
        elif role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}] if message["content"] else []
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": json.loads(c.arguments or "{}")}
                for c in message.get("tool_calls", [])
            ]
            messages.append({"role": "assistant", "content": blocks})
        else:
            messages.append({"role": role, "content": message["content"]})
    args: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": request.max_tokens}
    if system:
        args["system"] = system
    if request.tools:
        args["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in request.tools
        ]
    return args


def _tool_call(block: Any) -> ToolCall:
    return ToolCall(block.id, block.name, json.dumps(block.input, separators=(",", ":")))


def apply_event(event: Any, acc: Accumulator) -> None:
    """Feed one ``MessageStream`` event: text, thinking, finished tool_use blocks, the end."""
    kind = event.type
    if kind == "text":
        acc.text(event.text)
    elif kind == "thinking":
        acc.thinking(event.thinking)
    elif kind == "content_block_stop" and event.content_block.type == "tool_use":
        acc.tool_call(_tool_call(event.content_block))
    elif kind == "message_stop":
        _finish(event.message, acc)


def apply_message(message: Any, acc: Accumulator, *, text: bool = True) -> None:
    """Feed a whole ``Message`` (the non-streaming fallback, or ``get_final_message``)."""
    for block in message.content:
        if block.type == "text" and text:
            acc.text(block.text)
        elif block.type == "thinking" and text:
            acc.thinking(block.thinking)
        elif block.type == "tool_use":
            acc.tool_call(_tool_call(block))
    _finish(message, acc)


def _finish(message: Any, acc: Accumulator) -> None:
    acc.stop_reason = message.stop_reason
    acc.usage = Usage(message.usage.input_tokens, message.usage.output_tokens)
