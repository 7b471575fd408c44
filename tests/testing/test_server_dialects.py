"""Every scripted response parses through the real openai and anthropic SDKs, plain and TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from abortkit.testing import Gap, MockLLMServer, Script, StreamError, Text, Thinking, ToolCall, Truncate
from tests._helpers.sdk_http import sdk_http_client

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
        assert srv.errors == []


@pytest.fixture
def oai(server: MockLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=server.openai_base_url, api_key="sk-test", max_retries=0, http_client=sdk_http_client("openai", server)
    ) as client:
        yield client


@pytest.fixture
def ant(server: MockLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=server.anthropic_base_url,
        api_key="sk-ant-test",
        max_retries=0,
        http_client=sdk_http_client("anthropic", server),
    ) as client:
        yield client


TOOLS_SCRIPT = Script(
    steps=(
        Text("Let me check."),
        ToolCall("get_weather", '{"city": "Paris", "unit": "C"}', id="call_1"),
        ToolCall("get_time", '{"tz": "Europe/Paris"}', chunk_size=3),
    )
)


# -- OpenAI ----------------------------------------------------------------------------------


def test_openai_stream_text_finish_and_usage(server: MockLLMServer, oai: openai.OpenAI) -> None:
    server.enqueue(Script.simple("Hello from abortkit.", chunks=4))
    chunks = list(
        oai.chat.completions.create(
            model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from abortkit."
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 4, 16)
    assert chunks[-1].model == "gpt-test"
    (record,) = server.requests
    assert record.dialect == "openai" and record.stream and record.completed


def test_openai_stream_helper_accumulates_tool_calls(server: MockLLMServer, oai: openai.OpenAI) -> None:
    server.enqueue(TOOLS_SCRIPT)
    with oai.chat.completions.stream(model="gpt-test", messages=MESSAGES) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_1", "get_weather", '{"city": "Paris", "unit": "C"}'),
        ("call_mock000001_1", "get_time", '{"tz": "Europe/Paris"}'),
    ]


def test_openai_reasoning_content_and_keepalive_comments(server: MockLLMServer, oai: openai.OpenAI) -> None:
    server.enqueue(Script(steps=(Thinking("pondering"), Gap(0.05, keepalive_every=0.01), Text("42"))))
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    reasoning = [getattr(c.choices[0].delta, "reasoning_content", None) for c in chunks]
    assert "pondering" in reasoning
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "42"


def test_openai_non_streaming(server: MockLLMServer, oai: openai.OpenAI) -> None:
    server.enqueue(TOOLS_SCRIPT, Script(steps=(Text("plain "), Text("answer")), stop_reason="max_tokens"))
    first = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert first.object == "chat.completion"
    assert first.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in first.choices[0].message.tool_calls or []] == [  # type: ignore[union-attr]
        "get_weather",
        "get_time",
    ]
    second = oai.chat.completions.create(model="m", messages=MESSAGES)
    assert second.choices[0].message.content == "plain answer"
    assert second.choices[0].finish_reason == "length"
    assert second.usage is not None and second.usage.completion_tokens == 2
    assert [r.stream for r in server.requests] == [False, False]


def test_openai_unicode_survives_chunking(server: MockLLMServer, oai: openai.OpenAI) -> None:
    text = "héllo wörld, 你好, 🌍🚀"
    server.enqueue(Script.simple(text, chunks=7))
    chunks = oai.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text


def test_openai_stream_error_event_raises_api_error(server: MockLLMServer, oai: openai.OpenAI) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("server_error", "model crashed"))))
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="model crashed"):
        for chunk in oai.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hel"


def test_openai_truncated_stream_just_ends(server: MockLLMServer, oai: openai.OpenAI) -> None:
    # Observed SDK behaviour: a body that ends without `[DONE]` ends the iteration quietly.
    server.enqueue(Script(steps=(Text("Hel"), Truncate())))
    chunks = list(oai.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hel"
    assert all(c.choices[0].finish_reason is None for c in chunks)


def test_async_openai_stream(server: MockLLMServer) -> None:
    server.enqueue(TOOLS_SCRIPT)

    async def main() -> tuple[str, list[str]]:
        async with openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key="x",
            max_retries=0,
            http_client=sdk_http_client("openai", server, asynchronous=True),
        ) as client:
            text, names = "", []
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async for chunk in stream:
                delta = chunk.choices[0].delta
                text += delta.content or ""
                names += [t.function.name for t in delta.tool_calls or [] if t.function and t.function.name]
            return text, names

    assert asyncio.run(main()) == ("Let me check.", ["get_weather", "get_time"])


# -- Anthropic (and Minimax) -----------------------------------------------------------------


def test_anthropic_stream_final_message_blocks(server: MockLLMServer, ant: anthropic.Anthropic) -> None:
    server.enqueue(
        Script(
            steps=(
                Thinking("Let me "),
                Thinking("think.", signature="sig-xyz"),
                Text("It is "),
                Gap(0.03, keepalive_every=0.01),
                Text("sunny."),
                ToolCall("get_weather", '{"city": "Paris"}', id="toolu_1", chunk_size=5),
            )
        )
    )
    with ant.messages.stream(model="claude-test", max_tokens=64, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "It is sunny."
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    thinking, answer, tool = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me think." and thinking.signature == "sig-xyz"
    assert answer.type == "text" and answer.text == "It is sunny."
    assert tool.type == "tool_use" and (tool.id, tool.name, tool.input) == ("toolu_1", "get_weather", {"city": "Paris"})
    assert final.stop_reason == "tool_use"
    assert final.model == "claude-test"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 8)


def test_anthropic_raw_stream_events(server: MockLLMServer, ant: anthropic.Anthropic) -> None:
    server.enqueue(Script.simple("abc", chunks=3))
    events = list(ant.messages.create(model="m", max_tokens=8, messages=MESSAGES, stream=True))
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


def test_anthropic_non_streaming(server: MockLLMServer, ant: anthropic.Anthropic) -> None:
    server.enqueue(Script(steps=(Thinking("hm"), Text("Hi "), Text("there")), stop_reason="max_tokens"))
    message = ant.messages.create(model="m", max_tokens=8, messages=MESSAGES)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].type == "text" and message.content[1].text == "Hi there"
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_anthropic_stream_error_event(server: MockLLMServer, ant: anthropic.Anthropic) -> None:
    # Observed: the SDK raises APIStatusError (status 200, the stream's) with the error body.
    server.enqueue(Script(steps=(Text("a"), StreamError("overloaded_error", "Overloaded"))))
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        ant.messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream,
    ):
        for _ in stream:
            pass
    assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_minimax_path_speaks_anthropic(server: MockLLMServer) -> None:
    server.enqueue(Script.simple("from minimax"))
    with (
        anthropic.Anthropic(
            base_url=server.minimax_base_url, api_key="x", max_retries=0, http_client=sdk_http_client("anthropic", server)
        ) as client,
        client.messages.stream(model="MiniMax-M2", max_tokens=8, messages=MESSAGES) as stream,
    ):
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "from minimax"
    (record,) = server.requests
    assert (record.path, record.dialect) == ("/minimax/v1/messages", "minimax")


def test_async_anthropic_stream(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Thinking("t"), Text("done"))))

    async def main() -> list[str]:
        async with anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url,
            api_key="x",
            max_retries=0,
            http_client=sdk_http_client("anthropic", server, asynchronous=True),
        ) as client:
            async with client.messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream:
                final = await stream.get_final_message()
            return [b.type for b in final.content]

    assert asyncio.run(main()) == ["thinking", "text"]
