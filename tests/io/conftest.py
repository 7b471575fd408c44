"""Real SDKs against the real loopback mock server, plain and TLS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from abortkit import AbortController
from abortkit.testing import MockLLMServer
from tests._helpers.sdk_http import sdk_http

MESSAGES: Any = [{"role": "user", "content": "hi"}]
HANG_BOUND = 0.1  # 20x the 5 ms p99 target: catches a hang, proves no target (benchmarks do)


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv


def http_client(
    server: MockLLMServer, *, asynchronous: bool = False, legacy: bool | None = None, sdk: str = "openai"
) -> Any:
    """A client that trusts the server: of the HTTP library ``sdk`` runs on (httpx2, or httpx
    0.28 on the adopters' stack), or, ``legacy`` given, of httpx 0.28 (True) or httpx2 (False)."""
    module: Any = sdk_http(sdk) if legacy is None else httpx if legacy else httpx2
    verify: Any = server.ssl_context() if server.tls else True
    return (module.AsyncClient if asynchronous else module.Client)(verify=verify)


def sdk_client(sdk: str, server: MockLLMServer, *, asynchronous: bool, **options: Any) -> Any:
    http = http_client(server, asynchronous=asynchronous, sdk=sdk)
    if sdk == "openai":
        cls: Any = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=server.openai_base_url, api_key="sk-test", http_client=http, **options)
    cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
    return cls(base_url=server.anthropic_base_url, api_key="sk-ant-test", http_client=http, **options)


class Tripper:
    """Trips a controller from another real thread once ``armed`` is set, after ``delay``."""

    def __init__(self, controller: AbortController, delay: float) -> None:
        self.controller = controller
        self.delay = delay
        self.armed = threading.Event()
        self.tripped_at: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.armed.wait(10):
            time.sleep(self.delay)
            self.tripped_at = time.perf_counter()
            self.controller.abort("esc")

    def unwind_seconds(self) -> float:
        assert self.tripped_at is not None, "the abort never tripped"
        return time.perf_counter() - self.tripped_at
