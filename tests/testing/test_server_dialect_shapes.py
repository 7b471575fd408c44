"""The newer dialects parse through their real SDKs: OpenAI Responses (openai), Gemini
(google-genai), Ollama (ollama) and Bedrock ConverseStream (boto3), plain and TLS.

One script (thinking, text around a keepalive gap, a fragmented tool call) is read through each
SDK streamed and not, sync and async where the SDK has both; what each SDK hands the
application must be the same answer.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from abortkit.testing import Gap, MockLLMServer, Script, Text, Thinking, ToolCall

from .sdk_clients import (
    MESSAGES,
    READERS,
    Seen,
    aread_gemini,
    aread_ollama,
    openai_client,
)


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
        assert srv.errors == []


SCRIPT = Script(
    steps=(
        Thinking("Let me "),
        Thinking("think."),
        Text("It is "),
        Gap(0.05, keepalive_every=0.01),
        Text("sunny."),
        ToolCall("get_weather", '{"city": "Paris", "unit": "C"}', chunk_size=5),
    )
)
ARGS = {"city": "Paris", "unit": "C"}

# What each SDK reports for the end of that turn, and the tool-call id it carries.
FINISH = {"openai-responses": "completed", "gemini": "STOP", "ollama": "stop", "bedrock": "tool_use"}
TOOL_ID = {
    "openai-responses": "call_mock000001_0",
    "gemini": "fc_mock000001_0",
    "ollama": "",  # Ollama's tool calls carry no id
    "bedrock": "tooluse_mock000001_0",
}
MAX_TOKENS_FINISH = {"openai-responses": "incomplete", "gemini": "MAX_TOKENS", "ollama": "length", "bedrock": "max_tokens"}
dialects = pytest.mark.parametrize("dialect", sorted(READERS))


def assert_answer(seen: Seen, dialect: str) -> None:
    assert seen.thinking == "Let me think."
    assert seen.text == "It is sunny."
    assert seen.tools == [(TOOL_ID[dialect], "get_weather", ARGS)]
    assert seen.finish == FINISH[dialect]
    assert seen.usage is not None and seen.usage[0] == 12 and seen.usage[1] > 0


@dialects
def test_stream_carries_thinking_text_and_tool_calls(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(SCRIPT)
    seen = READERS[dialect](server)
    assert_answer(seen, dialect)
    (record,) = server.requests
    assert (record.dialect, record.stream, record.completed) == (dialect, True, True)


@dialects
def test_complete_answer_is_the_same_answer(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(SCRIPT)
    seen = READERS[dialect](server, stream=False)
    assert_answer(seen, dialect)
    (record,) = server.requests
    assert (record.dialect, record.stream) == (dialect, False)


@dialects
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_max_tokens_and_usage(server: MockLLMServer, dialect: str, stream: bool) -> None:
    server.enqueue(Script(steps=(Text("cut "), Text("short")), stop_reason="max_tokens", input_tokens=7, output_tokens=42))
    seen = READERS[dialect](server, stream=stream)
    assert seen.text == "cut short"
    assert seen.finish == MAX_TOKENS_FINISH[dialect]
    assert seen.usage == (7, 42)


@dialects
def test_unicode_survives_chunking(server: MockLLMServer, dialect: str) -> None:
    text = "héllo wörld, 你好, 🌍🚀"
    server.enqueue(Script.simple(text, chunks=7))
    assert READERS[dialect](server).text == text


def test_responses_stream_helper_accumulates_the_final_response(server: MockLLMServer) -> None:
    server.enqueue(SCRIPT)
    with openai_client(server).responses.stream(model="gpt-test", input="hi") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "It is sunny."
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call"]
    reasoning, _message, call = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think."
    assert call.type == "function_call" and json.loads(call.arguments) == ARGS
    assert final.status == "completed" and final.model == "gpt-test"
    assert final.usage is not None and final.usage.input_tokens == 12


def test_responses_async_stream(server: MockLLMServer) -> None:
    server.enqueue(SCRIPT)

    async def main() -> tuple[str, str]:
        client = openai_client(server, asynchronous=True)
        async with client, client.responses.stream(model="gpt-test", input="hi") as stream:
            final = await stream.get_final_response()
        return final.output_text, final.status or ""

    assert asyncio.run(main()) == ("It is sunny.", "completed")


@pytest.mark.parametrize("reader", [aread_gemini, aread_ollama], ids=["gemini", "ollama"])
def test_async_clients_stream_the_same_answer(server: MockLLMServer, reader: Any) -> None:
    server.enqueue(SCRIPT)
    seen = asyncio.run(reader(server))
    dialect = "gemini" if reader is aread_gemini else "ollama"
    assert_answer(seen, dialect)


def test_paths_name_the_model_and_the_stream(server: MockLLMServer) -> None:
    """Gemini and Bedrock name the model (and streaming) in the path; the answer echoes it."""
    server.enqueue(Script.simple("a"), Script.simple("b"))
    READERS["gemini"](server)
    READERS["bedrock"](server, stream=False)
    gemini, bedrock = server.requests
    # google-genai 3.x calls the v1 API, 2.x v1beta: the mock serves both.
    assert re.fullmatch(r"/v1(beta)?/models/gemini-test:streamGenerateContent", gemini.path) and gemini.stream
    assert bedrock.path == "/model/anthropic.claude-test-v1%3A0/converse" and not bedrock.stream


def test_ollama_streams_unless_told_not_to(server: MockLLMServer) -> None:
    import httpx

    server.enqueue(Script.simple("streamed", chunks=2), Script.simple("whole", chunks=2))
    verify: Any = server.ssl_context() if server.tls else True
    with httpx.Client(verify=verify) as http:
        streamed = http.post(server.ollama_base_url + "/api/chat", json={"model": "m", "messages": MESSAGES})
        whole = http.post(server.ollama_base_url + "/api/chat", json={"model": "m", "messages": MESSAGES, "stream": False})
    assert streamed.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert [line["done"] for line in lines] == [False, False, True]
    assert json.loads(whole.text)["message"]["content"] == "whole"
    assert [r.stream for r in server.requests] == [True, False]
