"""What the providers return (text, tool calls, thinking, usage) and the Anthropic watchdog.

The watchdog must judge liveness by bytes (keepalive pings keep a quiet stream alive,
although the SDK drops ping events), retry an idle stream a bounded number of times,
fall back to a non-streaming call where the SDK allows it, and obey the user's abort
throughout.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from abortkit_providers import AnthropicProvider, ChatResult
from provider_helpers import ASYNC_PROVIDERS, HANG_BOUND, MESSAGES, PROVIDERS, make_provider

from abortkit import AbortController, AbortError, IdleTimeoutError
from abortkit.testing import Gap, MockLLMServer, Script, Stall, Text, Thinking, ToolCall

TOOLS = [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_tool_calls_are_returned_complete(server: MockLLMServer, kind: str) -> None:
    server.enqueue(
        Script(steps=[Text("Checking."), ToolCall("get_weather", '{"city": "Paris"}', id="call_1", chunk_size=3)])
    )
    provider = make_provider(kind, server, asynchronous=False)
    result = provider.chat_stream_response(MESSAGES, tools=TOOLS)  # type: ignore[arg-type]
    assert result.text == "Checking."
    (call,) = result.tool_calls
    assert call.id == ("call_0" if kind == "ollama" else "call_1")  # Ollama's calls carry no id: numbered
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert result.stop_reason == TOOL_STOP_REASONS[kind]
    (request,) = server.requests
    assert request.stream and "get_weather" in json.dumps(request.json)


TOOL_STOP_REASONS = {  # what each provider reports for a turn that ends in tool calls
    "openai-compatible": "tool_calls",
    "openai-responses": "completed",
    "anthropic": "tool_use",
    "minimax": "tool_use",
    "gemini": "STOP",
    "ollama": "stop",
    "bedrock": "tool_use",
}


def silence(kind: str) -> list[Any]:
    """Steps that keep the stream open and silent until the abort. Bedrock's blocked read
    cannot be woken yet (botocore's urllib3), so there the silence ends after a second and
    the abort is seen at the next event; the partial output must be the same."""
    return [Gap(1.0), Text(" too late")] if kind == "bedrock" else [Stall()]


@pytest.mark.parametrize("kind", PROVIDERS)
def test_partial_keeps_only_complete_tool_calls(server: MockLLMServer, kind: str) -> None:
    server.enqueue(
        Script(
            steps=[
                Text("Two calls."),
                ToolCall("first", '{"a": 1}', id="call_a"),
                ToolCall("second", '{"b": 2, "long": "' + "x" * 40 + '"}', id="call_b", chunk_size=4),
                *silence(kind),
            ]
        )
    )
    controller = AbortController()
    provider = make_provider(kind, server, asynchronous=False)
    timer = threading.Timer(0.3, controller.abort, args=("esc",))
    timer.start()
    with pytest.raises(AbortError) as info:
        provider.chat_stream_response(MESSAGES, abort_signal=controller.signal, tools=TOOLS)  # type: ignore[arg-type]
    partial = info.value.partial
    assert isinstance(partial, ChatResult)
    assert partial.text == "Two calls."
    # A call is in the partial only once complete: for OpenAI chat when a later index starts
    # (the last one never ends: the stream stalls); for Anthropic and Bedrock when its block
    # closes, for Responses when its item is done (both did); Gemini and Ollama send whole
    # calls; Minimax reads tool calls from get_final_message, which a stalled stream never has.
    expected = {"openai-compatible": ["first"], "minimax": []}.get(kind, ["first", "second"])
    assert [call.name for call in partial.tool_calls] == expected
    for call in partial.tool_calls:
        json.loads(call.arguments)


THINKING_PROVIDERS = [kind for kind in PROVIDERS if kind != "minimax"]  # Minimax streams text_stream only


@pytest.mark.parametrize("kind", THINKING_PROVIDERS)
def test_thinking_is_collected_apart_from_text(server: MockLLMServer, kind: str) -> None:
    server.enqueue(Script(steps=[Thinking("Let me think"), Thinking(" hard."), Text("Answer.")]))
    result = make_provider(kind, server, asynchronous=False).chat_stream_response(MESSAGES)
    assert result.thinking == "Let me think hard."
    assert result.text == "Answer."


@pytest.mark.parametrize(
    ("kind", "asynchronous"),
    [(kind, asynchronous) for kind in THINKING_PROVIDERS for asynchronous in (False, True)
     if kind in ASYNC_PROVIDERS or not asynchronous],
)
def test_partial_keeps_the_thinking_before_the_abort(server: MockLLMServer, kind: str, asynchronous: bool) -> None:
    server.enqueue(Script(steps=[Thinking("Weighing "), Thinking("options"), *silence(kind)]))
    controller = AbortController()
    provider = make_provider(kind, server, asynchronous=asynchronous)
    timer = threading.Timer(0.3, controller.abort, args=("esc",))
    timer.start()
    with pytest.raises(AbortError) as info:
        if asynchronous:
            asyncio.run(provider.achat_stream_response(MESSAGES, abort_signal=controller.signal))
        else:
            provider.chat_stream_response(MESSAGES, abort_signal=controller.signal)
    partial = info.value.partial
    assert isinstance(partial, ChatResult)
    assert (partial.thinking, partial.text) == ("Weighing options", "")


def anthropic(server: MockLLMServer, **options: object) -> AnthropicProvider:
    provider = make_provider("anthropic", server, asynchronous=False, **options)
    assert isinstance(provider, AnthropicProvider)
    return provider


def test_keepalive_pings_keep_a_quiet_stream_alive(server: MockLLMServer) -> None:
    # 1.2 s of "thinking" with a ping every 0.1 s, against a 0.4 s idle timeout.
    server.enqueue(Script.thinking_gap(first="Hello", gap=1.2, then=" world", keepalive_every=0.1))
    result = anthropic(server, idle_timeout=0.4).chat_stream_response(MESSAGES)
    assert result.text == "Hello world"
    assert server.request_count == 1


def test_an_idle_stream_is_retried_then_succeeds(server: MockLLMServer) -> None:
    server.enqueue(Script.thinking_gap(first="Hel", gap=30, then="lo"), Script.simple("Recovered."))
    seen: list[str] = []
    started = time.monotonic()
    result = anthropic(server, idle_timeout=0.3, idle_retries=1).chat_stream_response(
        MESSAGES, on_text_chunk=seen.append
    )
    assert result.text == "Recovered."
    assert time.monotonic() - started < 5
    assert server.request_count == 2
    assert server.wait_for_disconnect(server.requests[0], 2.0) is not None  # the idle stream was closed


def test_after_the_retries_the_non_streaming_fallback_answers(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=[Gap(0), Stall()]), Script(steps=[Gap(0), Stall()]), Script.simple("Fallback."))
    result = anthropic(server, idle_timeout=0.3, idle_retries=1).chat_stream_response(MESSAGES)
    assert result.text == "Fallback."
    assert [r.stream for r in server.requests] == [True, True, False]


def test_fallback_refused_by_the_sdk_raises_idle_timeout(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=[Gap(0), Stall()]))
    provider = anthropic(server, idle_timeout=0.3, idle_retries=0)
    with pytest.raises(IdleTimeoutError) as info:
        provider.chat_stream_response(MESSAGES, max_tokens=120_000)
    assert isinstance(info.value.__cause__, ValueError)  # the SDK's refusal
    assert server.request_count == 1


def test_no_fallback_when_disabled(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=[Gap(0), Stall()]))
    with pytest.raises(IdleTimeoutError):
        anthropic(server, idle_timeout=0.3, idle_retries=0, fallback=False).chat_stream_response(MESSAGES)
    assert server.request_count == 1


@pytest.mark.parametrize("phase", ["retry", "fallback"])
def test_user_abort_during_the_retry_or_the_fallback(server: MockLLMServer, phase: str) -> None:
    stall = Script(steps=[Gap(0), Stall()])
    server.enqueue(stall, stall, stall)
    retries = 1 if phase == "retry" else 0
    controller = AbortController()
    provider = anthropic(server, idle_timeout=0.3, idle_retries=retries)

    def trip_during_second_request() -> None:
        if server.wait_for_requests(2, timeout=10):
            time.sleep(0.05)
            trip[0] = time.perf_counter()
            controller.abort("esc")

    trip = [0.0]
    thread = threading.Thread(target=trip_during_second_request)
    thread.start()
    with pytest.raises(AbortError) as info:
        provider.chat_stream_response(MESSAGES, abort_signal=controller.signal)
    assert time.perf_counter() - trip[0] < HANG_BOUND
    assert info.value.reason == "esc"
    assert server.request_count == 2
    assert server.requests[1].stream is (phase == "retry")


def test_async_watchdog_retry(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=[Gap(0), Stall()]), Script.simple("Async recovered."))
    provider = make_provider("anthropic", server, asynchronous=True, idle_timeout=0.3, idle_retries=1)

    async def main() -> ChatResult:
        return await provider.achat_stream_response(MESSAGES)

    assert asyncio.run(main()).text == "Async recovered."
    assert server.request_count == 2
