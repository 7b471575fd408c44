"""Bedrock ``converse`` and ``converse-stream`` (boto3's ``bedrock-runtime`` client).

Streamed, the body is AWS event-stream messages (``_eventstream.py``), each with the string
headers ``:event-type``, ``:content-type: application/json`` and ``:message-type: event``, and a
JSON payload shaped like botocore's ``ConverseStreamOutput`` members: ``messageStart``
(``role``), ``contentBlockStart`` (only for a tool call: ``start.toolUse`` with its id and
name), ``contentBlockDelta`` (``delta.text``, ``delta.reasoningContent.text`` then
``.signature``, or ``delta.toolUse.input`` fragments), ``contentBlockStop``, ``messageStop``
(``stopReason``: Bedrock uses Anthropic's words) and ``metadata`` (usage and latency). An
in-stream failure is a message with ``:message-type: exception`` and ``:exception-type`` (e.g.
``serviceUnavailableException``), which botocore raises as ``EventStreamError``. HTTP errors
name their type in ``x-amzn-errortype`` and carry ``{"message": ...}``.

The protocol has no keepalive: a gap stays silent.
"""

from __future__ import annotations

from typing import Any

from ._dialect import Block, Dialect, Exchange, StreamEncoder, TextBlock, ThinkingBlock, count_output, dumps, tool_input
from ._eventstream import CONTENT_TYPE, encode_message
from ._script import StopReason, StreamError, ToolCall

__all__ = ["BedrockConverse"]

_ERROR_TYPES: dict[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

_STREAM_ERRORS: dict[str, str] = {
    "overloaded_error": "serviceUnavailableException",
    "rate_limit_error": "throttlingException",
}
"""Script error types (Anthropic's words) to the exception events Bedrock streams."""


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, dumps(payload).encode())


def _usage(exchange: Exchange, output_tokens: int) -> dict[str, int]:
    return {
        "inputTokens": exchange.input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": exchange.input_tokens + output_tokens,
    }


class _BedrockEncoder(StreamEncoder):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(exchange)
        self._index = -1
        self._open: str | None = None  # "text" or "reasoning"
        self._signature = ""

    def _stop_block(self) -> bytes:
        if self._open is None:
            return b""
        out = b""
        if self._open == "reasoning":
            delta = {"reasoningContent": {"signature": self._signature}}
            out = _event("contentBlockDelta", {"contentBlockIndex": self._index, "delta": delta})
        self._open = None
        return out + _event("contentBlockStop", {"contentBlockIndex": self._index})

    def _delta(self, kind: str, delta: dict[str, Any]) -> bytes:
        head = b""
        if self._open != kind:
            head = self._stop_block()
            self._index += 1
            self._open = kind
        self.deltas += 1
        return head + _event("contentBlockDelta", {"contentBlockIndex": self._index, "delta": delta})

    def open(self) -> bytes:
        return _event("messageStart", {"role": "assistant"})

    def text(self, text: str) -> bytes:
        return self._delta("text", {"text": text})

    def thinking(self, text: str, signature: str) -> bytes:
        self._signature = signature
        return self._delta("reasoning", {"reasoningContent": {"text": text}})

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        out = [self._stop_block()]
        self._index += 1
        start = {"toolUse": {"toolUseId": tool_id, "name": call.name}}
        out.append(_event("contentBlockStart", {"contentBlockIndex": self._index, "start": start}))
        for piece in _pieces(call):
            self.deltas += 1
            delta = {"toolUse": {"input": piece}}
            out.append(_event("contentBlockDelta", {"contentBlockIndex": self._index, "delta": delta}))
        out.append(_event("contentBlockStop", {"contentBlockIndex": self._index}))
        return b"".join(out)

    def keepalive(self) -> None:
        return None

    def error(self, error: StreamError) -> bytes:
        kind = error.type if error.type.endswith("Exception") else _STREAM_ERRORS.get(error.type, "internalServerException")
        headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
        return encode_message(headers, dumps({"message": error.message}).encode())

    def close(self, stop_reason: StopReason) -> bytes:
        return (
            self._stop_block()
            + _event("messageStop", {"stopReason": stop_reason})
            + _event("metadata", {"usage": _usage(self.exchange, self.output_tokens()), "metrics": {"latencyMs": 1}})
        )


def _pieces(call: ToolCall) -> list[str]:
    text = call.arguments_json
    return [text[i : i + call.chunk_size] for i in range(0, len(text), call.chunk_size)]


def _content(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"reasoningContent": {"reasoningText": {"text": block.thinking, "signature": block.signature}}}
    return {"toolUse": {"toolUseId": block.id, "name": block.name, "input": tool_input(block.arguments_json)}}


class BedrockConverse(Dialect):
    """``POST /model/{modelId}/converse`` and ``/model/{modelId}/converse-stream``."""

    name = "bedrock"
    id_prefix = "bedrock-"
    tool_id_prefix = "tooluse_"
    stream_content_type = CONTENT_TYPE

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _BedrockEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        body = {
            "output": {"message": {"role": "assistant", "content": [_content(b) for b in blocks]}},
            "stopReason": stop_reason,
            "usage": _usage(exchange, count_output(exchange, blocks)),
            "metrics": {"latencyMs": 1},
        }
        return dumps(body).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        return dumps({"message": message}).encode()

    def error_headers(self, status: int, error_type: str | None = None) -> list[tuple[str, str]]:
        kind = _ERROR_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
        return [("x-amzn-errortype", f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")]
