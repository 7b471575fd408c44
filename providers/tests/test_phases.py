"""Every provider, sync and async, plain and TLS: abortable in every phase of a call.

For each phase the caller must unwind with AbortError (loose hang bound here; the
latency targets are proven by the benchmarks), exactly one request reaches the
server (none when already aborted) even with the SDK's default ``max_retries``, the
server sees the connection closed, the partial output is kept, and
``on_text_chunk`` is never called after the abort.

Bedrock streams over botocore's urllib3, which abortkit cannot interrupt yet: in the
phases where the consumer is blocked in a call (connecting, waiting for headers, a read in
a thinking gap) its cases are strict ``xfail`` naming that missing core support, with a
short wait so that the expected failure costs little.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from abortkit_providers import ChatResult
from provider_helpers import (
    ASYNC_PROVIDERS,
    HANG_BOUND,
    MESSAGES,
    PROVIDERS,
    STOP_REASONS,
    Tripper,
    bedrock_client,
    make_provider,
    proxy_for,
)

from abortkit import AbortController, AbortError
from abortkit.testing import Gap, MockLLMServer, Script, Text
from tests._helpers.ports import black_hole as black_hole_port

NO_RETRY_WAIT = {"gemini": 2.2}  # google-genai (tenacity): 1 s first delay plus up to 1 s of jitter
"""How long to wait for a retry that must not come: longer than the SDK's first retry delay
(openai/anthropic: 0.5 s to 1 s with jitter, botocore's standard mode: under 1 s; the ollama
client never retries)."""
DEFAULT_NO_RETRY_WAIT = 1.5


def run_call(kind: str, server: MockLLMServer, asynchronous: bool, controller: AbortController,
             on_chunk: Any, via: Any = None) -> ChatResult:
    """Run one call to completion or AbortError, sync or in a fresh event loop."""
    provider = make_provider(kind, server, asynchronous=asynchronous, via=via)
    if not asynchronous:
        return provider.chat_stream_response(MESSAGES, abort_signal=controller.signal, on_text_chunk=on_chunk)

    async def main() -> ChatResult:
        return await provider.achat_stream_response(MESSAGES, abort_signal=controller.signal, on_text_chunk=on_chunk)

    return asyncio.run(main())


def expect_abort(kind: str, server: MockLLMServer, asynchronous: bool, controller: AbortController,
                 tripper: Tripper | None, via: Any = None) -> tuple[AbortError, list[tuple[float, str]]]:
    chunks: list[tuple[float, str]] = []

    def on_chunk(text: str) -> None:
        chunks.append((time.perf_counter(), text))
        if tripper is not None:
            tripper.armed.set()

    with pytest.raises(AbortError) as info:
        run_call(kind, server, asynchronous, controller, on_chunk, via)
    if tripper is not None:
        assert tripper.unwind_seconds() < HANG_BOUND
        assert tripper.aborted_at is not None
        # One consumer thread: when abort() sets the flag, at most one chunk can have passed
        # abortable_iter's check without having reached on_text_chunk yet (a thread switch
        # between the two: 3 times in about 400 mid-burst runs here, under load). That one
        # was handed over before the abort; any further chunk was not.
        late = [text for at, text in chunks if at > tripper.aborted_at]
        assert len(late) <= 1, f"on_text_chunk called after the abort with {late}"
    assert isinstance(info.value.partial, ChatResult)
    assert info.value.partial.text == "".join(text for _, text in chunks)
    return info.value, chunks


def assert_one_request_closed(server: MockLLMServer, *, wait_for_retry: str | None = None) -> None:
    """``wait_for_retry``: the provider kind whose retry must not come (None: no wait).

    The wait is made on plain connections only: whether the SDK retries does not depend on
    the transport (the TLS cases still check the count, without waiting out the delay)."""
    if wait_for_retry is not None and not server.tls:
        time.sleep(NO_RETRY_WAIT.get(wait_for_retry, DEFAULT_NO_RETRY_WAIT))
    assert server.request_count == 1, f"{server.request_count} requests reached the server"
    (request,) = server.requests
    assert server.wait_for_disconnect(request, 2.0) is not None, "the server never saw the connection close"
    assert not request.completed


NO_UNWIND_ON_URLLIB3 = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="missing core support: abortkit cannot yet wake a call blocked in botocore's urllib3 "
    "(connect, headers wait, read); issue 14 item 1",
)
BLOCKED_WAIT = {"bedrock": 1.5}
"""How long the server makes a blocked phase last, per provider (default 10 s): short where the
case is an expected failure that waits it out."""


def _cases(*, xfail_bedrock: bool) -> list[Any]:
    cases = []
    for kind in PROVIDERS:
        for asynchronous in (False, True):
            if asynchronous and kind not in ASYNC_PROVIDERS:
                continue
            marks = [NO_UNWIND_ON_URLLIB3] if xfail_bedrock and kind == "bedrock" else []
            cases.append(pytest.param(kind, asynchronous, marks=marks, id=f"{kind}-{'async' if asynchronous else 'sync'}"))
    return cases


every_case = pytest.mark.parametrize(("kind", "asynchronous"), _cases(xfail_bedrock=False))
blocked_case = pytest.mark.parametrize(("kind", "asynchronous"), _cases(xfail_bedrock=True))


def blocked_wait(kind: str) -> float:
    return BLOCKED_WAIT.get(kind, 10.0)


@every_case
def test_already_aborted_sends_nothing(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    controller = AbortController()
    controller.abort("esc")
    error, chunks = expect_abort(kind, server, asynchronous, controller, None)
    assert error.reason == "esc" and chunks == []
    assert server.request_count == 0


@blocked_case
def test_abort_while_waiting_for_headers_is_not_retried(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.headers_after(blocked_wait(kind)))
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05, after_request=server)
    error, chunks = expect_abort(kind, server, asynchronous, controller, tripper)
    assert chunks == [] and error.partial.text == ""
    assert_one_request_closed(server, wait_for_retry=kind)


@blocked_case
def test_abort_in_a_thinking_gap(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=blocked_wait(kind), then=" world"))
    controller = AbortController()
    error, chunks = expect_abort(kind, server, asynchronous, controller, Tripper(controller, delay=0.05))
    assert [text for _, text in chunks] == ["Hello"]
    assert error.partial.text == "Hello"
    assert_one_request_closed(server)


@every_case
def test_abort_mid_burst(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script(steps=[Text(f"{i:05d} ") for i in range(20000)]))
    controller = AbortController()
    _error, chunks = expect_abort(kind, server, asynchronous, controller, Tripper(controller, delay=0.0))
    texts = [text for _, text in chunks]
    assert 0 < len(texts) < 20000
    assert texts == [f"{i:05d} " for i in range(len(texts))], "chunks lost or reordered before the abort"
    assert_one_request_closed(server)


@blocked_case
def test_headers_held_by_a_buffering_proxy(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    """The proxy "Thinking..." case: no headers until the model answers; ESC must still work."""
    # The server sends its headers at once, then thinks; the proxy holds them until a body byte.
    server.enqueue(Script(steps=[Gap(blocked_wait(kind)), Text("Hello")]))
    with proxy_for(server, "hold_headers") as proxy:
        controller = AbortController()
        tripper = Tripper(controller, delay=0.05, after_request=server)
        _error, chunks = expect_abort(kind, server, asynchronous, controller, tripper, via=proxy)
        assert chunks == []
        assert proxy.request_count == 1
    assert_one_request_closed(server, wait_for_retry=kind)


@every_case
def test_normal_completion(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.simple("Hello there, world.", chunks=4))
    seen: list[str] = []
    result = run_call(kind, server, asynchronous, AbortController(), seen.append)
    assert result.text == "Hello there, world." == "".join(seen)
    assert result.stop_reason == STOP_REASONS[kind]
    assert result.usage is not None and result.usage.output_tokens
    assert server.request_count == 1 and server.requests[0].completed


# -- connecting --------------------------------------------------------------------------------


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose connects hang."""
    with black_hole_port() as port:
        yield port


class _Hole:
    """Base URLs of every dialect on the black-hole port (what ``make_provider(via=)`` reads)."""

    def __init__(self, port: int, tls: bool) -> None:
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.openai_base_url = self.base_url + "/v1"
        self.minimax_base_url = self.base_url + "/minimax"
        self.anthropic_base_url = self.gemini_base_url = self.ollama_base_url = self.bedrock_base_url = self.base_url


@blocked_case
def test_abort_while_connecting(server: MockLLMServer, black_hole: int, kind: str, asynchronous: bool) -> None:
    hole = _Hole(black_hole, server.tls)
    options: dict[str, Any] = {}
    if kind == "bedrock":  # a short connect timeout and no retry: the expected failure stays cheap
        options["client"] = bedrock_client(server, hole.bedrock_base_url, max_retries=0, connect_timeout=blocked_wait(kind))
    provider = make_provider(kind, server, asynchronous=asynchronous, via=hole, **options)
    controller = AbortController()
    tripper = Tripper(controller, delay=0.1)
    tripper.armed.set()

    def call() -> ChatResult:
        if not asynchronous:
            return provider.chat_stream_response(MESSAGES, abort_signal=controller.signal)
        return asyncio.run(provider.achat_stream_response(MESSAGES, abort_signal=controller.signal))

    with pytest.raises(AbortError) as info:
        call()
    assert tripper.tripped_at is not None, "unwound before the abort"
    assert tripper.unwind_seconds() < HANG_BOUND
    assert info.value.reason == "esc"
    assert isinstance(info.value.partial, ChatResult) and info.value.partial.text == ""
