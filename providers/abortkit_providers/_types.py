"""The common shapes every provider speaks: messages in, ``ChatResult`` out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

__all__ = ["ChatResult", "Message", "Tool", "ToolCall", "Usage"]


class Message(TypedDict):
    """One turn. ``tool`` messages answer ``tool_call_id``; assistant turns may carry ``tool_calls``."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: NotRequired[list[ToolCall]]
    tool_call_id: NotRequired[str]


class Tool(TypedDict):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, complete


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class ChatResult:
    """A complete answer; a cut-short one travels as ``AbortError.partial`` instead."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    stop_reason: str | None = None
    thinking: str = ""
