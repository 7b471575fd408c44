"""What ``abortkit probe`` and ``abortkit chat`` share: a provider for a URL, and errors in one line."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["KEY_VARIABLES", "UsageError", "describe_error", "make_provider"]

KEY_VARIABLES = {"openai-compatible": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "minimax": "MINIMAX_API_KEY"}


class UsageError(Exception):
    """A problem with what the user gave us: printed as one line, no traceback."""


def make_provider(kind: str, base_url: str, model: str, api_key_env: str | None, *, api_key: str | None = None) -> Any:
    from abortkit_providers import AnthropicProvider, MinimaxProvider, OpenAICompatibleProvider

    if api_key is None:
        variable = api_key_env or KEY_VARIABLES[kind]
        api_key = os.environ.get(variable)
        if not api_key:
            raise UsageError(f"no API key: set {variable} (or name another variable with --api-key-env)")
    cls: Any = {"openai-compatible": OpenAICompatibleProvider, "anthropic": AnthropicProvider,
                "minimax": MinimaxProvider}[kind]
    try:
        return cls(base_url=base_url, api_key=api_key, model=model)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None


def describe_error(error: BaseException) -> str:
    """One line for what went wrong talking to an endpoint."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    if status in (401, 403):
        return f"the endpoint refused the API key (HTTP {status})"
    if status == 404:
        return "HTTP 404: wrong --base-url or --model?"
    if status is not None:
        message = getattr(error, "message", str(error))
        return f"HTTP {status}: {message}"[:200]
    if name == "APIConnectionError" or isinstance(error, OSError):
        cause = error.__cause__ or error.__context__
        detail = f" ({cause})" if cause is not None else ""
        return f"cannot reach the endpoint{detail}"[:200]
    if name == "APITimeoutError":
        return "the endpoint timed out"
    return f"{name}: {error}"[:200]
