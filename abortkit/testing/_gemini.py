"""Gemini ``generateContent`` and ``streamGenerateContent?alt=sse`` (the google-genai SDK).

Streamed, every event is ``data: <GenerateContentResponse JSON>`` ended by a blank line
(``\\r\\n\\r\\n``, as Google's servers send it): one candidate whose ``content.parts`` hold this
step's output (``{"text": ...}``, ``{"text": ..., "thought": true}`` for thinking, or a whole
``{"functionCall": {"id", "name", "args"}}``: Gemini does not stream arguments), then a last
chunk with ``finishReason`` and the usage. An in-stream failure is
``data: {"error": {"code", "message", "status"}}``, which the SDK raises as ``APIError``.

The protocol has no opening event and no keepalive: a gap with keepalives stays silent (the
SDK would try to parse an SSE comment as JSON).
"""

from __future__ import annotations

from typing import Any

from ._dialect import (
    Block,
    Dialect,
    Exchange,
    StreamEncoder,
    TextBlock,
    ThinkingBlock,
    count_output,
    dumps,
    tool_input,
)
from ._script import StopReason, StreamError, ToolCall

__all__ = ["GeminiGenerate"]

_FINISH: dict[str, str] = {
    "end_turn": "STOP",
    "max_tokens": "MAX_TOKENS",
    "tool_use": "STOP",  # Gemini ends a turn of function calls with STOP too
    "stop_sequence": "STOP",
}

_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_STREAM_ERRORS: dict[str, int] = {"overloaded_error": 503, "rate_limit_error": 429}
"""Script error types (Anthropic's words) to the HTTP code Gemini would report."""


def _event(payload: object) -> bytes:
    return f"data: {dumps(payload)}\r\n\r\n".encode()


def _part(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"text": block.thinking, "thought": True}
    return {"functionCall": {"id": block.id, "name": block.name, "args": tool_input(block.arguments_json)}}


def _usage(exchange: Exchange, output_tokens: int | None) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": exchange.input_tokens}
    if output_tokens is not None:
        usage["candidatesTokenCount"] = output_tokens
    usage["totalTokenCount"] = exchange.input_tokens + (output_tokens or 0)
    return usage


def _chunk(
    exchange: Exchange, parts: list[dict[str, Any]], finish: str | None = None, output_tokens: int | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(exchange, output_tokens),
        "modelVersion": exchange.model,
        "responseId": exchange.response_id,
    }


class _GeminiEncoder(StreamEncoder):
    def open(self) -> bytes:
        return b""

    def text(self, text: str) -> bytes:
        self.deltas += 1
        return _event(_chunk(self.exchange, [{"text": text}]))

    def thinking(self, text: str, signature: str) -> bytes:
        self.deltas += 1
        return _event(_chunk(self.exchange, [{"text": text, "thought": True}]))

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        self.deltas += 1
        args = tool_input(call.arguments_json)
        return _event(_chunk(self.exchange, [{"functionCall": {"id": tool_id, "name": call.name, "args": args}}]))

    def keepalive(self) -> None:
        return None

    def error(self, error: StreamError) -> bytes:
        code = _STREAM_ERRORS.get(error.type, 500)
        return _event({"error": {"code": code, "message": error.message, "status": _STATUS.get(code, "INTERNAL")}})

    def close(self, stop_reason: StopReason) -> bytes:
        return _event(_chunk(self.exchange, [{"text": ""}], _FINISH[stop_reason], self.output_tokens()))


class GeminiGenerate(Dialect):
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""

    name = "gemini"
    id_prefix = "gemini-"
    tool_id_prefix = "fc_"
    stream_content_type = "text/event-stream"

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _GeminiEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        parts = [_part(block) for block in blocks] or [{"text": ""}]
        return dumps(_chunk(exchange, parts, _FINISH[stop_reason], count_output(exchange, blocks))).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        return dumps({"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}).encode()
