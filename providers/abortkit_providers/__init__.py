"""abortkit-providers: three thin LLM providers built on abortkit, abortable in every phase.

Each provider owns only its SDK's shape; every abort mechanism comes from abortkit.
"""

from ._accumulate import IncompleteResponseError
from ._base import Provider
from ._types import ChatResult, Message, Tool, ToolCall, Usage
from .anthropic import AnthropicProvider
from .minimax import MinimaxProvider
from .openai_compatible import OpenAICompatibleProvider

__all__ = [
    "AnthropicProvider",
    "ChatResult",
    "IncompleteResponseError",
    "Message",
    "MinimaxProvider",
    "OpenAICompatibleProvider",
    "Provider",
    "Tool",
    "ToolCall",
    "Usage",
]
