"""Every provider, sync and async, plain and TLS: abortable in every phase of a call.

For each phase the caller must unwind with AbortError (loose hang bound here; the
latency targets are proven by the benchmarks), exactly one request reaches the
server (none when already aborted) even with the SDK's default ``max_retries``, the
server sees the connection closed, the partial output is kept, and
``on_text_chunk`` is never called after the abort.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from abortkit_providers import ChatResult
from provider_helpers import HANG_BOUND, MESSAGES, PROVIDERS, Tripper, make_provider, proxy_for

from abortkit import AbortController, AbortError
from abortkit.testing import Gap, MockLLMServer, Script, Text

NO_RETRY_WAIT = 1.5  # longer than the SDKs' first retry delay (0.5 s to 1 s with jitter)


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
        assert tripper.tripped_at is not None
        late = [text for at, text in chunks if at > tripper.tripped_at]
        assert late == [], f"on_text_chunk called after the abort with {late}"
    assert isinstance(info.value.partial, ChatResult)
    assert info.value.partial.text == "".join(text for _, text in chunks)
    return info.value, chunks


def assert_one_request_closed(server: MockLLMServer, *, wait_for_retry: bool = False) -> None:
    if wait_for_retry:
        time.sleep(NO_RETRY_WAIT)
    assert server.request_count == 1, f"{server.request_count} requests reached the server"
    (request,) = server.requests
    assert server.wait_for_disconnect(request, 2.0) is not None, "the server never saw the connection close"
    assert not request.completed


modes = pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
kinds = pytest.mark.parametrize("kind", PROVIDERS)


@kinds
@modes
def test_already_aborted_sends_nothing(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    controller = AbortController()
    controller.abort("esc")
    error, chunks = expect_abort(kind, server, asynchronous, controller, None)
    assert error.reason == "esc" and chunks == []
    assert server.request_count == 0


@kinds
@modes
def test_abort_while_waiting_for_headers_is_not_retried(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.headers_after(10))
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05, after_request=server)
    error, chunks = expect_abort(kind, server, asynchronous, controller, tripper)
    assert chunks == [] and error.partial.text == ""
    assert_one_request_closed(server, wait_for_retry=True)


@kinds
@modes
def test_abort_in_a_thinking_gap(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=10, then=" world"))
    controller = AbortController()
    error, chunks = expect_abort(kind, server, asynchronous, controller, Tripper(controller, delay=0.05))
    assert [text for _, text in chunks] == ["Hello"]
    assert error.partial.text == "Hello"
    assert_one_request_closed(server)


@kinds
@modes
def test_abort_mid_burst(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script(steps=[Text(f"{i:05d} ") for i in range(20000)]))
    controller = AbortController()
    _error, chunks = expect_abort(kind, server, asynchronous, controller, Tripper(controller, delay=0.0))
    texts = [text for _, text in chunks]
    assert 0 < len(texts) < 20000
    assert texts == [f"{i:05d} " for i in range(len(texts))], "chunks lost or reordered before the abort"
    assert_one_request_closed(server)


@kinds
@modes
def test_headers_held_by_a_buffering_proxy(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    """The proxy "Thinking..." case: no headers until the model answers; ESC must still work."""
    # The server sends its headers at once, then thinks; the proxy holds them until a body byte.
    server.enqueue(Script(steps=[Gap(10), Text("Hello")]))
    with proxy_for(server, "hold_headers") as proxy:
        controller = AbortController()
        tripper = Tripper(controller, delay=0.05, after_request=server)
        _error, chunks = expect_abort(kind, server, asynchronous, controller, tripper, via=proxy)
        assert chunks == []
        assert proxy.request_count == 1
    assert_one_request_closed(server, wait_for_retry=True)


@kinds
@modes
def test_normal_completion(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script.simple("Hello there, world.", chunks=4))
    seen: list[str] = []
    result = run_call(kind, server, asynchronous, AbortController(), seen.append)
    assert result.text == "Hello there, world." == "".join(seen)
    assert result.stop_reason in ("stop", "end_turn")
    assert result.usage is not None and result.usage.output_tokens
    assert server.request_count == 1 and server.requests[0].completed
