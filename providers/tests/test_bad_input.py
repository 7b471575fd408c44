"""Bad input for ``abortkit_providers``' public names: wrong types and values, refused clearly,
leaving nothing (no request reaches the server, no client is left half instrumented).

The rows of the ``abortkit_providers`` package; the mechanism (what every row checks around
the failed call) is in ``tests/_helpers/bad_input.py`` of the repository, and the guard that
every public name has a row in ``tests/test_public_names.py``. This module imports nothing
from its own directory: the guard loads it by path, from runs that do not collect
``providers/tests``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2
import ollama
import openai
import pytest
from abortkit_providers import (
    AnthropicProvider,
    BedrockProvider,
    ChatResult,
    GeminiProvider,
    OllamaProvider,
    OpenAICompatibleProvider,
    Provider,
    ToolCall,
    Usage,
    registry,
)
from google import genai
from google.genai import _api_client as genai_api_client

from abortkit.testing import MockLLMServer
from tests._helpers.bad_input import Env, Row, Table, _client_not_instrumented, check_row
from tests._helpers.messages import SIGNAL_ACCEPTED_RE

PROVIDERS = "abortkit_providers"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
BAD_TOOL_CALLS: Any = {"role": "assistant", "content": "", "tool_calls": "x"}


class ProviderEnv(Env):
    """``Env`` with a provider on the row's live server."""

    def provider(self, cls: type[Provider] = OpenAICompatibleProvider, **options: Any) -> Any:
        (spec,) = [spec for spec in registry.SPECS if spec.provider_class() is cls]
        base_url = spec.base_url_of(self.server)
        api_key = "AKIDMOCK:mock-secret" if cls is BedrockProvider else "sk-test"
        merged: dict[str, Any] = {"base_url": base_url, "api_key": api_key, "model": "m", "max_retries": 0}
        merged.update(options)
        return cls(**merged)


# -- helpers used by the rows ----------------------------------------------------------------


def _sdk_client(env: Env) -> openai.OpenAI:
    client = openai.OpenAI(base_url=env.server.openai_base_url, api_key="sk-test", max_retries=0)
    env.client = client._client
    return client


def _chat(env: ProviderEnv, **kwargs: Any) -> object:
    kwargs.setdefault("messages", MESSAGES)
    return env.provider().chat_stream_response(**kwargs)


def _achat(env: ProviderEnv, **kwargs: Any) -> object:
    kwargs.setdefault("messages", MESSAGES)
    return asyncio.run(env.provider().achat_stream_response(**kwargs))


ALL_PROVIDERS: tuple[type[Provider], ...] = tuple(spec.provider_class() for spec in registry.SPECS)
GENAI_POOL_PER_LOOP = hasattr(genai_api_client, "_PerLoopAsyncClientMixin")
"""google-genai 3.x's default async client keeps one pool per event loop (refused); 2.x's does not."""
CLIENT_KINDS: dict[type[Provider], str] = {  # how each refuses a client that is not its SDK's
    GeminiProvider: "a google.genai Client",
    OllamaProvider: "an ollama Client or AsyncClient",
    BedrockProvider: "a boto3 bedrock-runtime client",
}


# -- the table -------------------------------------------------------------------------------

ROWS: list[Row] = [
    *[
        row
        for cls in ALL_PROVIDERS
        for row in (
            Row(
                f"{cls.__name__}-base-url-int",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, base_url=5))(cls),
                TypeError,
                r"base_url must be a str, not int",
            ),
            Row(
                f"{cls.__name__}-base-url-empty",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, base_url=""))(cls),
                ValueError,
                r"base_url must not be empty",
            ),
            Row(
                f"{cls.__name__}-api-key-none",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, api_key=None))(cls),
                TypeError,
                r"api_key must be a str, not NoneType",
            ),
            Row(
                f"{cls.__name__}-model-empty",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, model=""))(cls),
                ValueError,
                r"model must not be empty",
            ),
            Row(
                f"{cls.__name__}-model-missing",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: c(base_url="http://127.0.0.1:9", api_key="k"))(cls),
                TypeError,
                r"missing 1 required keyword-only argument: 'model'",
            ),
            Row(
                f"{cls.__name__}-max-retries-negative",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, max_retries=-1))(cls),
                ValueError,
                r"max_retries must be a non-negative int, not -1",
            ),
            Row(
                f"{cls.__name__}-max-retries-bool",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, max_retries=True))(cls),
                ValueError,
                r"max_retries must be a non-negative int, not True",
            ),
            Row(
                f"{cls.__name__}-client-int",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, client=5))(cls),
                TypeError,
                "client must be " + CLIENT_KINDS.get(cls, r"an SDK client \(openai or anthropic\)") + ", not int",
            ),
            Row(
                f"{cls.__name__}-unknown-option",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, timeout=5))(cls),
                TypeError,
                r"unexpected keyword argument 'timeout'",
            ),
        )
    ],
    Row(
        "provider-async-client-str",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(async_client="x"),
        TypeError,
        r"not str",
    ),
    Row(
        "provider-http-client-int",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(http_client=5),
        TypeError,
        r"http_client",
    ),
    Row(
        "provider-async-client-in-sync-slot",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(client=openai.AsyncOpenAI(base_url=e.server.openai_base_url, api_key="k")),
        TypeError,
        r"client",
    ),
    Row(
        "provider-later-option-fails-after-instrumenting",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(client=_sdk_client(e), async_client=5),
        TypeError,
        r"not int",
        check=_client_not_instrumented,
    ),
    Row(
        "anthropic-idle-timeout-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_timeout="90"),
        TypeError,
        r"idle_timeout must be a number, not str",
    ),
    Row(
        "anthropic-idle-timeout-zero",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_timeout=0),
        ValueError,
        r"idle_timeout must be a positive",
    ),
    Row(
        "anthropic-idle-retries-negative",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_retries=-1),
        ValueError,
        r"idle_retries must be a non-negative int, not -1",
    ),
    Row(
        "anthropic-idle-retries-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_retries="1"),
        ValueError,
        r"idle_retries must be a non-negative int, not '1'",
    ),
    Row(
        "anthropic-fallback-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, fallback="false"),
        TypeError,
        r"fallback",
    ),
    Row(
        "anthropic-bad-option-after-instrumenting",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, client=_sdk_client(e), idle_timeout="90"),
        TypeError,
        r"idle_timeout",
        check=_client_not_instrumented,
    ),
    Row(
        "ollama-http-client",
        f"{PROVIDERS}:OllamaProvider",
        lambda e: e.provider(OllamaProvider, http_client=httpx2.Client()),
        TypeError,
        r"OllamaProvider takes no http_client.*client=ollama.Client",
    ),
    Row(
        "ollama-async-client-in-sync-slot",
        f"{PROVIDERS}:OllamaProvider",
        lambda e: e.provider(OllamaProvider, client=ollama.AsyncClient(host=e.server.base_url)),
        TypeError,
        r"client is an async SDK client; pass it as async_client=",
    ),
    *(
        [
            Row(
                "gemini-client-with-an-uninstrumentable-async-pool",
                f"{PROVIDERS}:GeminiProvider",
                lambda e: e.provider(
                    GeminiProvider, async_client=genai.Client(api_key="k", http_options={"base_url": "http://127.0.0.1:9"})
                ),
                TypeError,
                r"async_client: .*HTTP client abortkit cannot reach.*httpx_async_client",
            )
        ]
        if GENAI_POOL_PER_LOOP
        else []
    ),
    Row(
        "bedrock-api-key-without-secret",
        f"{PROVIDERS}:BedrockProvider",
        lambda e: e.provider(BedrockProvider, api_key="AKIDONLY"),
        ValueError,
        r"api_key must be 'ACCESS_KEY_ID:SECRET_ACCESS_KEY'",
    ),
    Row(
        "bedrock-region-int",
        f"{PROVIDERS}:BedrockProvider",
        lambda e: e.provider(BedrockProvider, region=1),
        TypeError,
        r"region must be a str, not int",
    ),
    Row(
        "bedrock-http-client",
        f"{PROVIDERS}:BedrockProvider",
        lambda e: e.provider(BedrockProvider, http_client=httpx2.Client()),
        TypeError,
        r"BedrockProvider takes no http_client",
    ),
    Row(
        "bedrock-async-client",
        f"{PROVIDERS}:BedrockProvider",
        lambda e: e.provider(BedrockProvider, async_client=object()),
        TypeError,
        r"async_client: BedrockProvider has no async client",
    ),
    Row(
        "bedrock-async-call",
        f"{PROVIDERS}:BedrockProvider",
        lambda e: asyncio.run(e.provider(BedrockProvider).achat_stream_response(MESSAGES)),
        TypeError,
        r"BedrockProvider has no async client \(its SDK has none\): use chat_stream_response",
    ),
    Row(
        "provider-abstract",
        f"{PROVIDERS}:Provider",
        lambda e: Provider(base_url="http://127.0.0.1:9", api_key="k", model="m"),
        TypeError,
        r"Can't instantiate abstract class Provider",
    ),
    Row(
        "toolcall-wrong-types",
        f"{PROVIDERS}:ToolCall",
        lambda e: ToolCall(None, 5, {"a": 1}),
        TypeError,
        r"id|name|arguments",
    ),
    Row(
        "chatresult-wrong-types",
        f"{PROVIDERS}:ChatResult",
        lambda e: ChatResult(text=5),
        TypeError,
        r"text",
    ),
    Row(
        "usage-wrong-types",
        f"{PROVIDERS}:Usage",
        lambda e: Usage(input_tokens="12"),
        TypeError,
        r"input_tokens",
    ),
    # chat_stream_response / achat_stream_response (no request may reach the server)
    *[
        row
        for name, run in (("chat", _chat), ("achat", _achat))
        for row in (
            Row(
                f"{name}-messages-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages="hi"))(run),
                TypeError,
                r"messages must be a list of message dicts, not str",
            ),
            Row(
                f"{name}-messages-empty",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[]))(run),
                ValueError,
                r"messages must not be empty",
            ),
            Row(
                f"{name}-messages-bad-role",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[*MESSAGES, {"role": "bot", "content": "x"}]))(run),
                ValueError,
                r"messages\[1\] must be a dict with a role in",
            ),
            Row(
                f"{name}-messages-content-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[{"role": "user", "content": 5}]))(run),
                ValueError,
                r"messages\[0\] must be a dict .* and a str content",
            ),
            Row(
                f"{name}-messages-not-dict",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=["hi"]))(run),
                ValueError,
                r"messages\[0\] must be a dict",
            ),
            Row(
                f"{name}-tools-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, tools="search"))(run),
                TypeError,
                r"tools must be a list or None, not str",
            ),
            Row(
                f"{name}-max-tokens-zero",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens=0))(run),
                ValueError,
                r"max_tokens must be positive, not 0",
            ),
            Row(
                f"{name}-max-tokens-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens="5"))(run),
                TypeError,
                r"max_tokens must be an int, not str",
            ),
            Row(
                f"{name}-max-tokens-bool",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens=True))(run),
                TypeError,
                r"max_tokens must be an int, not bool",
            ),
            Row(
                f"{name}-abort-signal-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, abort_signal="esc"))(run),
                TypeError,
                rf"argument 'abort_signal' {SIGNAL_ACCEPTED_RE} str",
            ),
            Row(
                f"{name}-abort-signal-controller",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, abort_signal=e.controller))(run),
                TypeError,
                rf"{SIGNAL_ACCEPTED_RE} AbortController \(pass its \.signal\)",
            ),
            Row(
                f"{name}-on-text-chunk-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, on_text_chunk=5))(run),
                TypeError,
                r"on_text_chunk",
            ),
            Row(
                f"{name}-tools-item-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, tools=[5]))(run),
                TypeError,
                r"tools\[0\]",
            ),
            Row(
                f"{name}-tool-calls-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[*MESSAGES, BAD_TOOL_CALLS]))(run),
                TypeError,
                r"tool_calls",
            ),
        )
    ],
]

EXEMPT: dict[str, str] = {
    f"{PROVIDERS}:Message": "a TypedDict (a plain dict at run time): checked where used, rows *-messages-*",
    f"{PROVIDERS}:Tool": "a TypedDict (a plain dict at run time): checked where used, rows *-tools-*",
    f"{PROVIDERS}:IncompleteResponseError": "an exception type raised by the providers, not built by callers",
}

# Public entry points that are not in an __all__ (methods) but must have rows too.
REQUIRED_METHODS = {
    f"{PROVIDERS}:Provider.chat_stream_response",
    f"{PROVIDERS}:Provider.achat_stream_response",
}

TABLE = Table(PROVIDERS, ROWS, EXEMPT, frozenset(REQUIRED_METHODS))


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", TABLE.params())
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    check_row(row, ProviderEnv(server))
