"""abortkit-providers: thin LLM providers built on abortkit, abortable in every phase.

Each provider owns only its SDK's shape; every abort mechanism comes from abortkit. The
openai/anthropic providers need only the base install; the others need their SDK, through
an extra each (``abortkit-providers[gemini]``, ``[ollama]``, ``[bedrock]``, ``[all]``):
their names are imported on first use, so a missing SDK fails only there, naming the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._accumulate import IncompleteResponseError
from ._base import Provider
from ._types import ChatResult, Message, Tool, ToolCall, Usage
from .anthropic import AnthropicProvider
from .minimax import MinimaxProvider
from .openai_compatible import OpenAICompatibleProvider
from .openai_responses import OpenAIResponsesProvider

if TYPE_CHECKING:
    from .bedrock import BedrockProvider
    from .gemini import GeminiProvider
    from .ollama import OllamaProvider

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

_OPTIONAL = {
    "GeminiProvider": ("gemini", "gemini", "google-genai"),
    "OllamaProvider": ("ollama", "ollama", "ollama"),
    "BedrockProvider": ("bedrock", "bedrock", "boto3"),
}
"""Name -> (module, extra, SDK distribution) for the providers whose SDK is an extra."""


def __getattr__(name: str) -> Any:
    spec = _OPTIONAL.get(name)
    if spec is None:
        raise AttributeError(f"module 'abortkit_providers' has no attribute {name!r}")
    module, extra, sdk = spec
    try:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as missing:
        raise ModuleNotFoundError(
            f"{name} needs {sdk}: pip install 'abortkit-providers[{extra}]' ({missing})", name=missing.name
        ) from missing
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *_OPTIONAL))
