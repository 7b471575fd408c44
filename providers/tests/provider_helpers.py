"""Helpers for the provider tests: build a provider for the mock server, trip from a thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import httpx2
import ollama
from abortkit_providers import Provider, registry
from botocore.config import Config

from abortkit import AbortController
from abortkit.testing import BufferingProxy, MockLLMServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
HANG_BOUND = 0.1  # 20x the 5 ms p99 target: catches a hang; the benchmarks prove the target
PROVIDERS = list(registry.PROVIDERS)
ASYNC_PROVIDERS = [spec.name for spec in registry.SPECS if spec.has_async]  # boto3 has no async client

STOP_REASONS = {  # what each provider reports for a normal end of turn
    "openai-compatible": "stop",
    "openai-responses": "completed",
    "anthropic": "end_turn",
    "minimax": "end_turn",
    "gemini": "STOP",
    "ollama": "stop",
    "bedrock": "end_turn",
}


def make_provider(
    kind: str, server: MockLLMServer, *, asynchronous: bool, via: Any = None, **options: Any
) -> Provider:
    """A provider of ``kind`` talking to ``server`` (or to ``via``, a proxy in front of it),
    trusting the server's CA: through its own httpx2 client where the SDK takes one, else
    through an SDK client built to trust it (ollama, boto3)."""
    spec = registry.get(kind)
    endpoint = via if via is not None else server
    url = spec.base_url_of(endpoint)
    verify: Any = server.ssl_context() if server.tls else True
    common: dict[str, Any] = {"base_url": url, "api_key": "sk-test", "model": "m", "asynchronous": asynchronous,
                              **options}
    if kind == "ollama":
        sdk = (ollama.AsyncClient if asynchronous else ollama.Client)(host=url, verify=verify)
        return spec.create(**common, **({"async_client": sdk} if asynchronous else {"client": sdk}))
    if kind == "bedrock":
        common["api_key"] = "AKIDMOCK:mock-secret"
        common.setdefault("client", bedrock_client(server, url, common.get("max_retries", 2)))
        return spec.create(**common)
    http = httpx2.AsyncClient(verify=verify) if asynchronous else httpx2.Client(verify=verify)
    return spec.create(**common, http_client=http)


def bedrock_client(server: MockLLMServer, url: str, max_retries: int = 2, connect_timeout: float = 60.0) -> Any:
    """A boto3 bedrock-runtime client on ``url`` with fake credentials, trusting the server's CA."""
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDMOCK",
        aws_secret_access_key="mock-secret",
        verify=server.ca_cert_pem_path if server.tls else True,
        config=Config(
            retries={"total_max_attempts": max_retries + 1, "mode": "standard"}, connect_timeout=connect_timeout
        ),
    )


def proxy_for(server: MockLLMServer, mode: str = "hold_headers") -> BufferingProxy:
    return BufferingProxy(server.base_url, mode=mode, upstream_ssl_context=server.ssl_context() if server.tls else None)


class Tripper:
    """Trips a controller from another real thread, ``delay`` after it is armed: by
    ``armed.set()``, or (``after_request``) once that server has received a request."""

    def __init__(self, controller: AbortController, delay: float, *, after_request: Any = None) -> None:
        self.controller, self.delay, self.after_request = controller, delay, after_request
        self.armed = threading.Event()
        self.tripped_at: float | None = None
        self.aborted_at: float | None = None
        """When ``abort()`` had returned. A chunk handed over between ``tripped_at`` and this may
        have passed its check before the flag was set, and so may one chunk after it: the one a
        thread switch caught between the check and the callback."""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.after_request is not None and self.after_request.wait_for_requests(1, timeout=10):
            self.armed.set()
        if self.armed.wait(10):
            time.sleep(self.delay)
            self.tripped_at = time.perf_counter()
            self.controller.abort("esc")
            self.aborted_at = time.perf_counter()

    def unwind_seconds(self) -> float:
        assert self.tripped_at is not None, "the abort never tripped"
        return time.perf_counter() - self.tripped_at
