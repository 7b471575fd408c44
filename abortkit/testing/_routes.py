"""Which dialect answers which request, and whether it streams.

Why the route decides streaming, not only the body: OpenAI and Anthropic say ``"stream": true``
in the request body, but Gemini and Bedrock name the streamed and the complete call by path
(``:streamGenerateContent`` / ``:generateContent``, ``/converse-stream`` / ``/converse``), and
Ollama streams unless the body says ``"stream": false``. Gemini and Bedrock also carry the model
in the path, which the answer echoes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ._bedrock import BedrockConverse
from ._dialect import Dialect
from ._gemini import GeminiGenerate
from ._ollama import OllamaChat
from ._openai_responses import OpenAIResponses
from ._sse import AnthropicMessages, OpenAIChat

__all__ = ["OPENAI_CHAT", "Route", "find_route"]

OPENAI_CHAT = OpenAIChat()
_ANTHROPIC = AnthropicMessages()
_RESPONSES = OpenAIResponses()
_GEMINI = GeminiGenerate()
_OLLAMA = OllamaChat()
_BEDROCK = BedrockConverse()


@dataclass(frozen=True)
class Route:
    """One model endpoint: the record name, the dialect, and how streaming is chosen."""

    name: str
    dialect: Dialect
    stream: bool | None = None
    """True/False: fixed by the path. None: the body's ``"stream"`` decides."""
    stream_by_default: bool = False
    """With ``stream`` None: what a body without ``"stream"`` means (Ollama: streamed)."""
    model: str | None = None
    """The model named in the path, if the protocol puts it there."""

    def streams(self, body: Any) -> bool:
        if self.stream is not None:
            return self.stream
        value = body.get("stream") if isinstance(body, Mapping) else None
        return value is True or (value is None and self.stream_by_default)


_EXACT: dict[str, Route] = {
    "/v1/chat/completions": Route("openai", OPENAI_CHAT),
    "/v1/responses": Route("openai-responses", _RESPONSES),
    "/v1/messages": Route("anthropic", _ANTHROPIC),
    "/minimax/v1/messages": Route("minimax", _ANTHROPIC),
    "/api/chat": Route("ollama", _OLLAMA, stream_by_default=True),
}

_GEMINI_PATH = re.compile(
    r"/(?:v1|v1beta|v1alpha)/(?P<model>models/[^:]+):(?P<method>streamGenerateContent|generateContent)"
)
_BEDROCK_PATH = re.compile(r"/model/(?P<model>[^/]+)/(?P<method>converse-stream|converse)")


def find_route(path: str) -> Route | None:
    """The route for a request path (without the query), or None for a 404."""
    exact = _EXACT.get(path)
    if exact is not None:
        return exact
    match = _GEMINI_PATH.fullmatch(path)
    if match is not None:
        model = match["model"].removeprefix("models/")
        return Route("gemini", _GEMINI, stream=match["method"] == "streamGenerateContent", model=model)
    match = _BEDROCK_PATH.fullmatch(path)
    if match is not None:
        return Route("bedrock", _BEDROCK, stream=match["method"] == "converse-stream", model=unquote(match["model"]))
    return None
