"""SSE framing, and the two SSE dialects the mock server started with (OpenAI chat, Anthropic).

Why byte-level care matters here: the point of the mock is that the *real* ``openai`` and
``anthropic`` SDKs parse its output through their own SSE decoders and event accumulators, so
that an abort is tested against the code paths it meets in production. The shapes below follow
what those SDKs read:

* OpenAI chat completions: ``data: <chat.completion.chunk JSON>\\n\\n`` events, a role delta first,
  tool calls by ``index`` (id, type and name in the first fragment, then ``arguments`` pieces),
  a chunk with ``finish_reason``, an optional ``choices: []`` usage chunk when the request set
  ``stream_options.include_usage``, then ``data: [DONE]\\n\\n``. Keepalives are SSE comments,
  which the decoder drops.
* Anthropic messages: ``event: <type>\\ndata: <JSON>\\n\\n`` with the event name repeated as the
  JSON ``type`` (the SDK skips events without a name), ``ping`` events as keepalives, thinking
  blocks closed by a ``signature_delta``.

JSON is compact and UTF-8 (``ensure_ascii=False``), as the real services send it, so multi-byte
characters split across reads are exercised too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._dialect import (
    SSE_CONTENT_TYPE,
    Block,
    Dialect,
    Exchange,
    StreamEncoder,
    TextBlock,
    ThinkingBlock,
    ToolBlock,
    count_output,
    dumps,
    fragments,
    tool_input,
)
from ._script import StopReason, StreamError, ToolCall

__all__ = [
    "SSE_CONTENT_TYPE",
    "AnthropicMessages",
    "Block",
    "Dialect",
    "Exchange",
    "OpenAIChat",
    "StreamEncoder",
    "TextBlock",
    "ThinkingBlock",
    "ToolBlock",
    "sse_comment",
    "sse_event",
]


def sse_event(data: object, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, one ``data:`` line of JSON, blank line."""
    payload = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {payload}\n\n".encode()


def sse_comment(text: str) -> bytes:
    """An SSE comment line (``: text``): bytes on the wire that every SSE decoder ignores."""
    return f": {text}\n\n".encode()


# -- OpenAI chat completions ---------------------------------------------------------------

_OPENAI_FINISH: dict[str, str] = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
}

_OPENAI_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
}

_ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class _OpenAIEncoder(StreamEncoder):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(exchange)
        self._tool_index = -1

    def _chunk(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> bytes:
        ex = self.exchange
        chunk: dict[str, Any] = {
            "id": ex.response_id,
            "object": "chat.completion.chunk",
            "created": ex.created,
            "model": ex.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if ex.include_usage:
            chunk["usage"] = None
        return sse_event(chunk)

    def open(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def text(self, text: str) -> bytes:
        self.deltas += 1
        return self._chunk({"content": text})

    def thinking(self, text: str, signature: str) -> bytes:
        # OpenAI-compatible reasoning servers (DeepSeek, vLLM, MiniMax) stream `reasoning_content`;
        # the SDK keeps unknown delta fields, so callers can read it as an extra attribute.
        self.deltas += 1
        return self._chunk({"reasoning_content": text})

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        self._tool_index += 1
        index = self._tool_index
        head = {
            "index": index,
            "id": tool_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        out = [self._chunk({"tool_calls": [head]})]
        for piece in fragments(call.arguments_json, call.chunk_size):
            self.deltas += 1
            out.append(self._chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        return b"".join(out)

    def keepalive(self) -> bytes:
        return sse_comment("keepalive")

    def error(self, error: StreamError) -> bytes:
        return sse_event({"error": {"message": error.message, "type": error.type, "param": None, "code": None}})

    def close(self, stop_reason: StopReason) -> bytes:
        out = [self._chunk({}, _OPENAI_FINISH[stop_reason])]
        ex = self.exchange
        if ex.include_usage:
            completion = self.output_tokens()
            out.append(
                sse_event(
                    {
                        "id": ex.response_id,
                        "object": "chat.completion.chunk",
                        "created": ex.created,
                        "model": ex.model,
                        "system_fingerprint": None,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": ex.input_tokens,
                            "completion_tokens": completion,
                            "total_tokens": ex.input_tokens + completion,
                        },
                    }
                )
            )
        out.append(sse_event("[DONE]"))
        return b"".join(out)


class OpenAIChat(Dialect):
    """``POST /v1/chat/completions`` (streaming and not)."""

    name = "openai"
    id_prefix = "chatcmpl-"
    tool_id_prefix = "call_"

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _OpenAIEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        text = "".join(b.text for b in blocks if isinstance(b, TextBlock))
        thinking = "".join(b.thinking for b in blocks if isinstance(b, ThinkingBlock))
        tools = [b for b in blocks if isinstance(b, ToolBlock)]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if (text or not tools) else None,
            "refusal": None,
        }
        if thinking:
            message["reasoning_content"] = thinking
        if tools:
            message["tool_calls"] = [
                {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments_json}}
                for t in tools
            ]
        completion = count_output(exchange, blocks)
        body = {
            "id": exchange.response_id,
            "object": "chat.completion",
            "created": exchange.created,
            "model": exchange.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": _OPENAI_FINISH[stop_reason]}
            ],
            "usage": {
                "prompt_tokens": exchange.input_tokens,
                "completion_tokens": completion,
                "total_tokens": exchange.input_tokens + completion,
            },
        }
        return dumps(body).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        kind = error_type or _OPENAI_ERROR_TYPES.get(status, "server_error")
        return dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()


# -- Anthropic messages --------------------------------------------------------------------


class _AnthropicEncoder(StreamEncoder):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(exchange)
        self._index = -1
        self._open_kind: str | None = None
        self._signature = ""

    @staticmethod
    def _event(kind: str, payload: Mapping[str, Any]) -> bytes:
        return sse_event({"type": kind, **payload}, event=kind)

    def _close_block(self) -> list[bytes]:
        if self._open_kind is None:
            return []
        out: list[bytes] = []
        if self._open_kind == "thinking":
            out.append(
                self._event(
                    "content_block_delta",
                    {"index": self._index, "delta": {"type": "signature_delta", "signature": self._signature}},
                )
            )
        out.append(self._event("content_block_stop", {"index": self._index}))
        self._open_kind = None
        return out

    def _start_block(self, kind: str, block: Mapping[str, Any]) -> list[bytes]:
        out = self._close_block()
        self._index += 1
        self._open_kind = kind
        out.append(self._event("content_block_start", {"index": self._index, "content_block": block}))
        return out

    def open(self) -> bytes:
        ex = self.exchange
        message: dict[str, Any] = {
            "id": ex.response_id,
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": ex.input_tokens, "output_tokens": 1},
        }
        return self._event("message_start", {"message": message})

    def text(self, text: str) -> bytes:
        out = [] if self._open_kind == "text" else self._start_block("text", {"type": "text", "text": ""})
        self.deltas += 1
        out.append(
            self._event("content_block_delta", {"index": self._index, "delta": {"type": "text_delta", "text": text}})
        )
        return b"".join(out)

    def thinking(self, text: str, signature: str) -> bytes:
        out = (
            []
            if self._open_kind == "thinking"
            else self._start_block("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        )
        self._signature = signature
        self.deltas += 1
        out.append(
            self._event(
                "content_block_delta",
                {"index": self._index, "delta": {"type": "thinking_delta", "thinking": text}},
            )
        )
        return b"".join(out)

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        out = self._start_block("tool_use", {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}})
        for piece in fragments(call.arguments_json, call.chunk_size):
            self.deltas += 1
            out.append(
                self._event(
                    "content_block_delta",
                    {"index": self._index, "delta": {"type": "input_json_delta", "partial_json": piece}},
                )
            )
        out.extend(self._close_block())
        return b"".join(out)

    def keepalive(self) -> bytes:
        # The spacing inside the JSON matches what the Anthropic API sends for pings.
        return b'event: ping\ndata: {"type": "ping"}\n\n'

    def error(self, error: StreamError) -> bytes:
        return self._event("error", {"error": {"type": error.type, "message": error.message}})

    def close(self, stop_reason: StopReason) -> bytes:
        out = self._close_block()
        out.append(
            self._event(
                "message_delta",
                {
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": self.output_tokens()},
                },
            )
        )
        out.append(self._event("message_stop", {}))
        return b"".join(out)


class AnthropicMessages(Dialect):
    """``POST /v1/messages`` (Anthropic, and Minimax's Anthropic-compatible endpoint)."""

    name = "anthropic"
    id_prefix = "msg_"
    tool_id_prefix = "toolu_"

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _AnthropicEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        content: list[dict[str, Any]] = []
        for b in blocks:
            if isinstance(b, TextBlock):
                content.append({"type": "text", "text": b.text})
            elif isinstance(b, ThinkingBlock):
                content.append({"type": "thinking", "thinking": b.thinking, "signature": b.signature})
            else:
                content.append({"type": "tool_use", "id": b.id, "name": b.name, "input": tool_input(b.arguments_json)})
        body = {
            "id": exchange.response_id,
            "type": "message",
            "role": "assistant",
            "model": exchange.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": exchange.input_tokens, "output_tokens": count_output(exchange, blocks)},
        }
        return dumps(body).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        kind = error_type or _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
