"""What every benchmark shares: machine description, socket counts, SDK clients on the mock server.

Statistics (the one percentile) are ``abortkit_cli.stats``, shared with ``abortkit demo``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx2
import openai

from abortkit.testing._server import MockLLMServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
MODEL = "mock-model"
PACKAGES = (
    "abortkit",
    "abortkit-providers",
    "openai",
    "anthropic",
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "matplotlib",
    "uvicorn",
    "hypercorn",
    "trio",
)


# -- the machine ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """Who measured: recorded with every section, so a report never mixes machines silently."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


# -- sockets -------------------------------------------------------------------------------------


def open_sockets() -> int:
    """Sockets this process holds (client and in-process server sides), from /proc/self/fd."""
    count = 0
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                    count += 1
    return count


def settle_sockets(baseline: int, timeout: float = 3.0) -> int:
    """Wait (up to ``timeout``) for the socket count to come back to ``baseline``; the excess."""
    deadline = time.monotonic() + timeout
    while True:
        excess = open_sockets() - baseline
        if excess <= 0 or time.monotonic() > deadline:
            return excess
        time.sleep(0.01)


def wait_all_disconnected(server: MockLLMServer, requests: Sequence[Any], timeout: float = 3.0) -> int:
    """How many of ``requests`` the server never saw the client leave (within ``timeout`` overall)."""
    deadline = time.monotonic() + timeout
    missing = 0
    for request in requests:
        if server.wait_for_disconnect(request, max(0.0, deadline - time.monotonic())) is None:
            missing += 1
    return missing


# -- SDK clients on the mock server ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One SDK against one server: how to open a stream, sync or async."""

    sdk: str  # "openai" | "anthropic"
    server: MockLLMServer

    def verify(self) -> Any:
        return self.server.ssl_context() if self.server.tls else True

    def sync_client(self, **http: Any) -> Any:
        client = httpx2.Client(verify=self.verify(), **http)
        if self.sdk == "openai":
            return openai.OpenAI(base_url=self.server.openai_base_url, api_key="x", max_retries=0, http_client=client)
        return anthropic.Anthropic(
            base_url=self.server.anthropic_base_url, api_key="x", max_retries=0, http_client=client
        )

    def async_client(self, **http: Any) -> Any:
        client = httpx2.AsyncClient(verify=self.verify(), **http)
        if self.sdk == "openai":
            return openai.AsyncOpenAI(
                base_url=self.server.openai_base_url, api_key="x", max_retries=0, http_client=client
            )
        return anthropic.AsyncAnthropic(
            base_url=self.server.anthropic_base_url, api_key="x", max_retries=0, http_client=client
        )

    def open_sync(self, client: Any) -> Any:
        """An openai ``Stream`` or an anthropic ``MessageStream`` (headers received)."""
        if self.sdk == "openai":
            return client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        return client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES).__enter__()

    async def open_async(self, client: Any) -> Any:
        if self.sdk == "openai":
            return await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        return await client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES).__aenter__()


@contextlib.contextmanager
def servers(transports: Sequence[str]) -> Iterator[dict[str, MockLLMServer]]:
    """One mock server per transport ("plain", "tls"); checks the servers saw no error."""
    with contextlib.ExitStack() as stack:
        running = {name: stack.enter_context(MockLLMServer(tls=name == "tls")) for name in transports}
        yield running
        for name, server in running.items():
            if server.errors:
                raise RuntimeError(f"the {name} mock server failed: {server.errors!r}")


@contextlib.contextmanager
def answering(server: MockLLMServer, script: Any) -> Iterator[None]:
    """Answer every request with ``script`` while inside.

    Through ``default_script`` rather than ``enqueue``: a trial aborted before its request
    was sent would leave a queued script behind for the next trial to consume.
    """
    previous = server.default_script
    server.default_script = script
    try:
        yield
    finally:
        server.default_script = previous


# -- providers -----------------------------------------------------------------------------------


def provider(name: str, server: MockLLMServer, asynchronous: bool) -> Any:
    """The abortkit provider ``name`` (see ``abortkit_providers.registry``) on the mock server.

    Given its own httpx2 client (so TLS trusts the mock CA); the provider instruments it.
    """
    from abortkit_providers import registry

    spec = registry.get(name)
    verify = server.ssl_context() if server.tls else True
    http: Any = httpx2.AsyncClient(verify=verify) if asynchronous else httpx2.Client(verify=verify)
    return spec.create(
        base_url=spec.base_url_of(server), api_key="x", model=MODEL, asynchronous=asynchronous, max_retries=0,
        http_client=http,
    )


def provider_call(target: Any, signal: Any, on_item: Any) -> Any:
    """A "strategy" for ``measure_unwind`` that is a whole provider call (request included)."""
    return target.chat_stream_response(MESSAGES, abort_signal=signal, on_text_chunk=on_item)


async def provider_call_async(target: Any, signal: Any, on_item: Any) -> Any:
    return await target.achat_stream_response(MESSAGES, abort_signal=signal, on_text_chunk=on_item)
