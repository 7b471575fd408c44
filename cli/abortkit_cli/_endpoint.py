"""What ``abortkit probe`` and ``abortkit chat`` share: a provider for a URL, and errors in one line."""

from __future__ import annotations

import os

from abortkit_providers import Provider, registry

__all__ = ["UsageError", "describe_error", "make_provider"]


class UsageError(Exception):
    """A problem with what the user gave us: printed as one line, no traceback."""


def make_provider(
    kind: str, base_url: str, model: str, api_key_env: str | None, *, api_key: str | None = None
) -> Provider:
    """The ``kind`` provider (a name in ``abortkit_providers.registry``) for ``base_url``.

    The key comes from ``api_key`` if given, else from the variable ``api_key_env`` names,
    else from the provider's usual variable (``OPENAI_API_KEY``...).
    """
    spec = registry.get(kind)
    if api_key is None:
        variable = api_key_env or spec.key_variable
        api_key = os.environ.get(variable)
        if not api_key and spec.key_required:
            raise UsageError(f"no API key: set {variable} (or name another variable with --api-key-env)")
        api_key = api_key or "none"  # an endpoint that takes no key (a local Ollama) ignores it
    try:
        return spec.create(base_url=base_url, api_key=api_key, model=model)
    except (TypeError, ValueError, ImportError) as error:  # ImportError: its SDK's extra, named
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
