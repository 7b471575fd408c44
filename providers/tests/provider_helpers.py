"""Helpers for the provider tests: build a provider for the mock server, trip from a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx2
from abortkit_providers import AnthropicProvider, MinimaxProvider, OpenAICompatibleProvider, Provider

from abortkit import AbortController
from abortkit.testing import BufferingProxy, MockLLMServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
HANG_BOUND = 0.1  # 20x the 5 ms p99 target: catches a hang; the benchmarks prove the target
PROVIDERS = ["openai-compatible", "anthropic", "minimax"]


def base_url(kind: str, url_of: Any) -> str:
    return {
        "openai-compatible": url_of.openai_base_url,
        "anthropic": url_of.anthropic_base_url,
        "minimax": url_of.minimax_base_url,
    }[kind]


def make_provider(
    kind: str, server: MockLLMServer, *, asynchronous: bool, via: Any = None, **options: Any
) -> Provider:
    """A provider of ``kind`` talking to ``server`` (or to ``via``, a proxy in front of it)."""
    endpoint = via if via is not None else server
    verify: Any = server.ssl_context() if server.tls else True
    http = httpx2.AsyncClient(verify=verify) if asynchronous else httpx2.Client(verify=verify)
    cls: Any = {"openai-compatible": OpenAICompatibleProvider, "anthropic": AnthropicProvider,
                "minimax": MinimaxProvider}[kind]
    return cls(base_url=base_url(kind, endpoint), api_key="sk-test", model="m", http_client=http, **options)


def proxy_for(server: MockLLMServer, mode: str = "hold_headers") -> BufferingProxy:
    return BufferingProxy(server.base_url, mode=mode, upstream_ssl_context=server.ssl_context() if server.tls else None)


class Tripper:
    """Trips a controller from another real thread, ``delay`` after it is armed: by
    ``armed.set()``, or (``after_request``) once that server has received a request."""

    def __init__(self, controller: AbortController, delay: float, *, after_request: Any = None) -> None:
        self.controller, self.delay, self.after_request = controller, delay, after_request
        self.armed = threading.Event()
        self.tripped_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.after_request is not None and self.after_request.wait_for_requests(1, timeout=10):
            self.armed.set()
        if self.armed.wait(10):
            time.sleep(self.delay)
            self.tripped_at = time.perf_counter()
            self.controller.abort("esc")

    def unwind_seconds(self) -> float:
        assert self.tripped_at is not None, "the abort never tripped"
        return time.perf_counter() - self.tripped_at
