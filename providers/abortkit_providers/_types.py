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


def _require(owner: str, field: str, value: object, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise TypeError(f"{owner}.{field} has the wrong type: {type(value).__name__}")


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, complete

    def __post_init__(self) -> None:
        for name in ("id", "name", "arguments"):
            _require("ToolCall", name, getattr(self, name), str)


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens"):
            value = getattr(self, name)
            if value is not None:
                _require("Usage", name, value, int)


@dataclass(frozen=True)
class ChatResult:
    """A complete answer; a cut-short one travels as ``AbortError.partial`` instead."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    stop_reason: str | None = None
    thinking: str = ""

    def __post_init__(self) -> None:
        _require("ChatResult", "text", self.text, str)
        _require("ChatResult", "thinking", self.thinking, str)
        if not isinstance(self.tool_calls, list) or not all(isinstance(c, ToolCall) for c in self.tool_calls):
            raise TypeError("ChatResult.tool_calls must be a list of ToolCall")
        if self.usage is not None:
            _require("ChatResult", "usage", self.usage, Usage)
        if self.stop_reason is not None:
            _require("ChatResult", "stop_reason", self.stop_reason, str)
