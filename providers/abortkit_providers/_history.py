"""Facts about a conversation that several SDK formats need, read once from the messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._types import Message

__all__ = ["arguments_object", "system_text", "tool_call_names"]


def system_text(messages: Sequence[Message]) -> str:
    """The system messages joined (APIs that take the system prompt apart from the turns)."""
    return "\n\n".join(m["content"] for m in messages if m["role"] == "system")


def tool_call_names(messages: Sequence[Message]) -> dict[str, str]:
    """Tool-call id -> tool name, for APIs whose tool results name the tool (Gemini, Ollama)."""
    return {call.id: call.name for m in messages for call in m.get("tool_calls", ())}


def arguments_object(arguments: str) -> Any:
    """A tool call's JSON arguments as a value, for APIs that take them parsed."""
    return json.loads(arguments or "{}")
