"""What every wire dialect of the mock server provides, and the facts they share.

A :class:`Dialect` turns the abstract steps of a script into one provider's bytes: a
:class:`StreamEncoder` for a streamed answer (one write per step), a body for a complete one,
and the body (and headers) of an HTTP error. The framing differs per provider (SSE, NDJSON,
AWS event stream), so the dialect also names its streaming content type, and says whether the
protocol has a keepalive at all: where it has none, a gap with keepalives stays silent rather
than inventing bytes the real SDK would choke on.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._script import StopReason, StreamError, ToolCall

__all__ = [
    "SSE_CONTENT_TYPE",
    "Block",
    "Dialect",
    "Exchange",
    "StreamEncoder",
    "TextBlock",
    "ThinkingBlock",
    "ToolBlock",
    "count_output",
    "dumps",
    "fragments",
    "tool_input",
]

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


def dumps(obj: object) -> str:
    """Compact UTF-8 JSON, as the real services send it (multi-byte characters stay raw)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Exchange:
    """Per-response facts the dialects need: ids, model, and what the request asked for."""

    response_id: str
    model: str
    created: int
    include_usage: bool
    input_tokens: int
    output_tokens: int | None

    @classmethod
    def for_request(
        cls,
        request_json: Any,
        *,
        seq: int,
        prefix: str,
        model: str | None,
        input_tokens: int,
        output_tokens: int | None,
        path_model: str | None = None,
    ) -> Exchange:
        """``model``: the script's override; else ``path_model`` (Gemini and Bedrock name the
        model in the URL), else the request body's ``model``, else ``mock-model``."""
        body: Mapping[str, Any] = request_json if isinstance(request_json, Mapping) else {}
        options = body.get("stream_options")
        include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        requested = body.get("model")
        return cls(
            response_id=f"{prefix}mock{seq:06d}",
            model=model or path_model or (requested if isinstance(requested, str) else "mock-model"),
            created=int(time.time()),
            include_usage=include_usage,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ThinkingBlock:
    thinking: str
    signature: str


@dataclass(frozen=True)
class ToolBlock:
    id: str
    name: str
    arguments_json: str


Block: TypeAlias = TextBlock | ThinkingBlock | ToolBlock


class StreamEncoder(ABC):
    """Turns the steps of one streamed response into wire bytes, one write per step.

    Stateful: it tracks open content blocks and counts deltas for the usage report.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.deltas = 0

    def output_tokens(self) -> int:
        given = self.exchange.output_tokens
        return given if given is not None else max(1, self.deltas)

    @abstractmethod
    def open(self) -> bytes:
        """The opening event(s)."""

    @abstractmethod
    def text(self, text: str) -> bytes: ...

    @abstractmethod
    def thinking(self, text: str, signature: str) -> bytes: ...

    @abstractmethod
    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        """Header plus every argument fragment of one tool call."""

    @abstractmethod
    def keepalive(self) -> bytes | None:
        """The protocol's keepalive bytes, or None if it has none (the gap stays silent)."""

    @abstractmethod
    def error(self, error: StreamError) -> bytes:
        """An in-stream error event; the body ends after it."""

    @abstractmethod
    def close(self, stop_reason: StopReason) -> bytes:
        """Everything after the last step: stop reason, usage, terminator."""


class Dialect(ABC):
    """A provider's request/response format: which bytes a script becomes."""

    name: str
    id_prefix: str
    tool_id_prefix: str
    stream_content_type: str = SSE_CONTENT_TYPE

    @abstractmethod
    def encoder(self, exchange: Exchange) -> StreamEncoder: ...

    @abstractmethod
    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        """The non-streaming response body."""

    @abstractmethod
    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        """The JSON body this provider sends with an HTTP error status."""

    def error_headers(self, status: int, error_type: str | None = None) -> list[tuple[str, str]]:
        """Headers that go with an error status (Bedrock names the error in one)."""
        return []


def fragments(text: str, size: int) -> list[str]:
    """``text`` cut into ``size``-character pieces (one piece, empty, for empty text)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def count_output(exchange: Exchange, blocks: list[Block]) -> int:
    if exchange.output_tokens is not None:
        return exchange.output_tokens
    return max(1, len(blocks))


def tool_input(arguments_json: str) -> Any:
    """A tool call's arguments as a JSON value, for dialects that send them parsed (an
    object, ``{}`` when the text does not parse: those protocols cannot carry bad JSON)."""
    try:
        value = json.loads(arguments_json) if arguments_json else {}
    except ValueError:
        return {}
    return value
