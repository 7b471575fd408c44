"""Argument checks for the providers: refuse bad input before anything is sent or changed."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._types import Message, Tool, ToolCall

__all__ = ["ChatRequest", "check_http_client", "check_request", "check_sdk_client", "check_slot", "check_text"]

_ROLES = ("system", "user", "assistant", "tool")
_TOOL_KEYS = ("name", "description", "parameters")


@dataclass(frozen=True)
class ChatRequest:
    messages: list[Message]
    tools: list[Tool] | None
    max_tokens: int


def check_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _check_message(index: int, message: object) -> None:
    if not isinstance(message, dict) or message.get("role") not in _ROLES or not isinstance(message.get("content"), str):
        raise ValueError(f"messages[{index}] must be a dict with a role in {_ROLES} and a str content")
    calls = message.get("tool_calls")
    if calls is not None and (not isinstance(calls, list) or not all(isinstance(c, ToolCall) for c in calls)):
        raise TypeError(f"messages[{index}]['tool_calls'] must be a list of ToolCall")
    if "tool_call_id" in message and not isinstance(message["tool_call_id"], str):
        raise TypeError(f"messages[{index}]['tool_call_id'] must be a str")


def _check_tools(tools: object) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise TypeError(f"tools must be a list or None, not {type(tools).__name__}")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or any(key not in tool for key in _TOOL_KEYS):
            raise TypeError(f"tools[{index}] must be a dict with {', '.join(_TOOL_KEYS)}")
        if not isinstance(tool["name"], str) or not isinstance(tool["parameters"], dict):
            raise TypeError(f"tools[{index}] needs a str name and a dict (JSON schema) of parameters")


def check_request(messages: object, tools: object, max_tokens: object, on_text_chunk: object) -> ChatRequest:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a list of message dicts, not {type(messages).__name__}")
    if not messages:
        raise ValueError("messages must not be empty")
    for index, message in enumerate(messages):
        _check_message(index, message)
    _check_tools(tools)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise TypeError(f"max_tokens must be an int, not {type(max_tokens).__name__}")
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, not {max_tokens}")
    if on_text_chunk is not None and not callable(on_text_chunk):
        raise TypeError(f"on_text_chunk must be callable or None, not {type(on_text_chunk).__name__}")
    return ChatRequest(list(messages), tools, max_tokens)  # type: ignore[arg-type]


def _closes_asynchronously(client: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(client, "close", None))


def check_sdk_client(name: str, given: Any, asynchronous: bool) -> None:
    """An openai/anthropic SDK client (they keep their httpx client as ``_client``), in its slot."""
    if not callable(getattr(given, "close", None)) or getattr(given, "_client", None) is None:
        raise TypeError(f"{name} must be an SDK client (openai or anthropic), not {type(given).__name__}")
    check_slot(name, _closes_asynchronously(given), asynchronous)


def check_slot(name: str, closes_asynchronously: bool, asynchronous: bool) -> None:
    if closes_asynchronously != asynchronous:
        kind, slot = ("an async", "async_client") if not asynchronous else ("a sync", "client")
        raise TypeError(f"{name} is {kind} SDK client; pass it as {slot}=")


def check_http_client(http_client: Any) -> None:
    if not callable(getattr(http_client, "send", None)):
        raise TypeError(f"http_client must be an httpx/httpx2 Client or AsyncClient, not {type(http_client).__name__}")
