"""A ``genai.Client`` given to ``GeminiProvider``: used as is when abortkit can reach its HTTP
clients (then every phase is abortable), refused with a ``TypeError`` when it cannot."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from abortkit_providers import GeminiProvider
from google import genai
from google.genai import _api_client as genai_api_client
from provider_helpers import HANG_BOUND, MESSAGES, Tripper

from abortkit import AbortController, AbortError
from abortkit.testing import MockLLMServer, Script


def user_client(server: MockLLMServer) -> genai.Client:
    verify: Any = server.ssl_context() if server.tls else True
    options = {
        "base_url": server.gemini_base_url,
        "httpx_client": httpx2.Client(verify=verify),
        "httpx_async_client": httpx2.AsyncClient(verify=verify),
    }
    return genai.Client(api_key="gm-test", http_options=options)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_a_client_built_with_httpx_clients_is_abortable(server: MockLLMServer, asynchronous: bool) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=10, then=" world"))
    slot = "async_client" if asynchronous else "client"
    provider = GeminiProvider(base_url=server.gemini_base_url, api_key="gm-test", model="m", **{slot: user_client(server)})
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05)

    def on_chunk(_text: str) -> None:
        tripper.armed.set()

    with pytest.raises(AbortError) as info:
        if asynchronous:
            asyncio.run(provider.achat_stream_response(MESSAGES, abort_signal=controller.signal, on_text_chunk=on_chunk))
        else:
            provider.chat_stream_response(MESSAGES, abort_signal=controller.signal, on_text_chunk=on_chunk)
    assert tripper.unwind_seconds() < HANG_BOUND
    assert info.value.partial.text == "Hello"
    (request,) = server.requests
    assert server.wait_for_disconnect(request, 2.0) is not None


def test_the_sdks_default_async_client_is_refused_only_if_unreachable(server: MockLLMServer) -> None:
    """google-genai 3.x's default async client keeps one pool per event loop, created lazily
    where nothing can instrument it: refused. 2.x's is a plain httpx client: accepted."""
    default = genai.Client(api_key="gm-test", http_options={"base_url": server.gemini_base_url})
    if hasattr(genai_api_client, "_PerLoopAsyncClientMixin"):
        with pytest.raises(TypeError, match=r"async_client: .*cannot reach"):
            GeminiProvider(base_url=server.gemini_base_url, api_key="gm-test", model="m", async_client=default)
    else:
        provider = GeminiProvider(base_url=server.gemini_base_url, api_key="gm-test", model="m", async_client=default)
        assert provider.sdk_client(True) is default
