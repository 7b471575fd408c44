"""abortkit-providers: thin LLM providers built on abortkit, abortable in every phase.

Each provider owns only its SDK's shape; every abort mechanism comes from abortkit. The
openai/anthropic providers need only the base install; the others need their SDK, through
an extra each (``abortkit-providers[gemini]``, ``[ollama]``, ``[bedrock]``, ``[all]``).
``abortkit_providers.registry`` lists them all by name (class, API-key variable, base-URL
form, extra).

Names are imported on first use (PEP 562): importing a provider imports its SDK (openai
and anthropic together take about 1.5 s), which ``import abortkit_providers.registry`` and
a command line listing the providers should not pay, and a missing SDK fails only where
its provider is named, saying which extra to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._accumulate import IncompleteResponseError
    from ._base import Provider
    from ._types import ChatResult, Message, Tool, ToolCall, Usage
    from .anthropic import AnthropicProvider
    from .bedrock import BedrockProvider
    from .gemini import GeminiProvider
    from .minimax import MinimaxProvider
    from .ollama import OllamaProvider
    from .openai_compatible import OpenAICompatibleProvider
    from .openai_responses import OpenAIResponsesProvider

__all__ = [
    "AnthropicProvider",
    "BedrockProvider",
    "ChatResult",
    "GeminiProvider",
    "IncompleteResponseError",
    "Message",
    "MinimaxProvider",
    "OllamaProvider",
    "OpenAICompatibleProvider",
    "OpenAIResponsesProvider",
    "Provider",
    "Tool",
    "ToolCall",
    "Usage",
]

_WHERE = {
    "AnthropicProvider": "anthropic",
    "IncompleteResponseError": "_accumulate",
    "MinimaxProvider": "minimax",
    "OpenAICompatibleProvider": "openai_compatible",
    "OpenAIResponsesProvider": "openai_responses",
    "Provider": "_base",
    **dict.fromkeys(("ChatResult", "Message", "Tool", "ToolCall", "Usage"), "_types"),
    "GeminiProvider": "gemini",
    "OllamaProvider": "ollama",
    "BedrockProvider": "bedrock",
}

_OPTIONAL = {
    "GeminiProvider": ("gemini", "google-genai"),
    "OllamaProvider": ("ollama", "ollama"),
    "BedrockProvider": ("bedrock", "boto3"),
}
"""Name -> (extra, SDK distribution) for the providers whose SDK is an extra."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'abortkit_providers' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as missing:
        if name not in _OPTIONAL:
            raise
        extra, sdk = _OPTIONAL[name]
        raise ModuleNotFoundError(
            f"{name} needs {sdk}: pip install 'abortkit-providers[{extra}]' ({missing})", name=missing.name
        ) from missing
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *_WHERE))
