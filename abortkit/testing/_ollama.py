"""Ollama ``POST /api/chat``: newline-delimited JSON when streamed (the default), one object not.

Every line is a whole ``ChatResponse`` object: ``{"model", "created_at", "message": {"role":
"assistant", "content": ...}, "done": false}``, with ``message.thinking`` for thinking and
``message.tool_calls`` (``[{"function": {"name", "arguments": {...}}}]``, arguments parsed and
whole: Ollama does not stream them). The last line says ``"done": true`` with ``done_reason``
and the counts. An in-stream failure is a line ``{"error": "..."}``, which the ollama client
raises as ``ResponseError``; HTTP errors carry the same shape.

NDJSON has no keepalive (the client parses every line as JSON): a gap stays silent.
"""

from __future__ import annotations

import time
from typing import Any

from ._dialect import Block, Dialect, Exchange, StreamEncoder, TextBlock, ThinkingBlock, count_output, dumps, tool_input
from ._script import StopReason, StreamError, ToolCall

__all__ = ["OllamaChat"]

_DONE_REASON: dict[str, str] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "stop",  # Ollama ends a turn of tool calls with "stop" too
    "stop_sequence": "stop",
}


def _created_at() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _line(payload: object) -> bytes:
    return dumps(payload).encode() + b"\n"


def _call(name: str, arguments_json: str) -> dict[str, Any]:
    return {"function": {"name": name, "arguments": tool_input(arguments_json)}}


def _object(exchange: Exchange, message: dict[str, Any], done_reason: str | None, output_tokens: int = 0) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "model": exchange.model,
        "created_at": _created_at(),
        "message": {"role": "assistant", "content": "", **message},
        "done": done_reason is not None,
    }
    if done_reason is not None:
        obj.update(
            done_reason=done_reason,
            total_duration=1_000_000,
            load_duration=1_000,
            prompt_eval_count=exchange.input_tokens,
            prompt_eval_duration=1_000,
            eval_count=output_tokens,
            eval_duration=1_000,
        )
    return obj


class _OllamaEncoder(StreamEncoder):
    def open(self) -> bytes:
        return b""

    def text(self, text: str) -> bytes:
        self.deltas += 1
        return _line(_object(self.exchange, {"content": text}, None))

    def thinking(self, text: str, signature: str) -> bytes:
        self.deltas += 1
        return _line(_object(self.exchange, {"thinking": text}, None))

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        self.deltas += 1
        return _line(_object(self.exchange, {"tool_calls": [_call(call.name, call.arguments_json)]}, None))

    def keepalive(self) -> None:
        return None

    def error(self, error: StreamError) -> bytes:
        return _line({"error": error.message})

    def close(self, stop_reason: StopReason) -> bytes:
        return _line(_object(self.exchange, {}, _DONE_REASON[stop_reason], self.output_tokens()))


class OllamaChat(Dialect):
    """``POST /api/chat``; streamed unless the body says ``"stream": false``."""

    name = "ollama"
    id_prefix = "ollama-"
    tool_id_prefix = "call_"
    stream_content_type = "application/x-ndjson"

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _OllamaEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        message: dict[str, Any] = {
            "content": "".join(b.text for b in blocks if isinstance(b, TextBlock)),
        }
        thinking = "".join(b.thinking for b in blocks if isinstance(b, ThinkingBlock))
        if thinking:
            message["thinking"] = thinking
        calls = [_call(b.name, b.arguments_json) for b in blocks if not isinstance(b, (TextBlock, ThinkingBlock))]
        if calls:
            message["tool_calls"] = calls
        return dumps(_object(exchange, message, _DONE_REASON[stop_reason], count_output(exchange, blocks))).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        return dumps({"error": message}).encode()
