"""Scripts and their rendering into wire bytes, without sockets.

The SDK round trips live in test_server_dialects.py; these pin the byte-level details that the
SDKs depend on (SSE framing, event names, the exact ping and keepalive bytes) and the order of
operations that the server's timing rests on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from abortkit.testing._render import Abort, End, Head, Hold, Op, Pause, Write, render
from abortkit.testing._script import (
    Gap,
    HTTPError,
    Malformed,
    Reset,
    Script,
    Stall,
    StreamError,
    Text,
    Thinking,
    ToolCall,
    Truncate,
)
from abortkit.testing._sse import AnthropicMessages, OpenAIChat

OPENAI = OpenAIChat()
ANTHROPIC = AnthropicMessages()


def ops_for(script: Script | HTTPError, dialect: Any, body: dict[str, Any]) -> list[Op]:
    return list(render(script, dialect, body, seq=7))


def body_bytes(ops: list[Op]) -> bytes:
    return b"".join(op.data for op in ops if isinstance(op, Write))


def sse_events(data: bytes) -> list[tuple[str | None, str]]:
    """Parse SSE the plain way: (event name, data) per blank-line-terminated event."""
    events: list[tuple[str | None, str]] = []
    for block in data.decode().split("\n\n"):
        if not block or block.startswith(":"):
            continue
        name = None
        payload = []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                payload.append(value)
        events.append((name, "\n".join(payload)))
    return events


def test_openai_stream_framing_and_order() -> None:
    script = Script(steps=(Text("Hel"), Text("lo"), ToolCall("f", '{"a": 1}', chunk_size=4)))
    ops = ops_for(script, OPENAI, {"stream": True, "model": "m", "stream_options": {"include_usage": True}})
    head = ops[0]
    assert isinstance(head, Head) and head.status == 200
    assert ("content-type", "text/event-stream; charset=utf-8") in head.headers
    assert ("transfer-encoding", "chunked") in head.headers
    assert isinstance(ops[-1], End)
    data = body_bytes(ops)
    assert data.endswith(b"data: [DONE]\n\n")
    events = [json.loads(d) for _, d in sse_events(data) if d != "[DONE]"]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [e["choices"][0]["delta"].get("content") for e in events[1:3]] == ["Hel", "lo"]
    first_tool = events[3]["choices"][0]["delta"]["tool_calls"][0]
    assert first_tool == {
        "index": 0,
        "id": "call_mock000007_0",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    fragments = [e["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for e in events[4:6]]
    assert fragments == ['{"a"', ": 1}"]
    assert events[6]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[7]["choices"] == [] and events[7]["usage"]["completion_tokens"] == 4
    assert all("usage" in e for e in events)  # include_usage: `usage: null` on every chunk


def test_openai_without_include_usage_has_no_usage_chunk() -> None:
    data = body_bytes(ops_for(Script.simple("hi"), OPENAI, {"stream": True}))
    events = [json.loads(d) for _, d in sse_events(data) if d != "[DONE]"]
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_anthropic_event_names_match_types_and_blocks_nest() -> None:
    script = Script(steps=(Thinking("a", "sig1"), Thinking("b", "sig2"), Text("x"), ToolCall("t", "{}")))
    data = body_bytes(ops_for(script, ANTHROPIC, {"stream": True, "model": "claude"}))
    events = sse_events(data)
    for name, payload in events:
        assert json.loads(payload)["type"] == name
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",  # the signature closes the thinking block
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    signature = json.loads(events[4][1])["delta"]
    assert signature == {"type": "signature_delta", "signature": "sig2"}
    assert json.loads(events[-2][1])["delta"]["stop_reason"] == "tool_use"
    assert json.loads(events[0][1])["message"]["model"] == "claude"


def test_keepalive_bytes_are_exact() -> None:
    gap = Script(steps=(Gap(1.0, keepalive_every=0.25), Text("x")))
    (pause,) = [op for op in ops_for(gap, ANTHROPIC, {"stream": True}) if isinstance(op, Pause)]
    assert pause.keepalive == b'event: ping\ndata: {"type": "ping"}\n\n'
    assert pause.every == 0.25 and pause.seconds == 1.0
    (pause,) = [op for op in ops_for(gap, OPENAI, {"stream": True}) if isinstance(op, Pause)]
    assert pause.keepalive == b": keepalive\n\n"


def test_opening_event_rides_on_first_write() -> None:
    ops = ops_for(Script(steps=(Gap(0.5), Text("x"))), ANTHROPIC, {"stream": True})
    assert [type(op) for op in ops] == [Head, Pause, Write, Write, End]
    first = ops[2]
    assert isinstance(first, Write) and first.data.startswith(b"event: message_start\n")
    # A gap with keepalives opens the body at the gap's start.
    ops = ops_for(Script(steps=(Gap(0.5, keepalive_every=0.1), Text("x"))), ANTHROPIC, {"stream": True})
    assert [type(op) for op in ops] == [Head, Write, Pause, Write, Write, End]


def test_leading_stall_or_reset_acts_before_headers() -> None:
    assert [type(op) for op in ops_for(Script(steps=(Stall(),)), OPENAI, {"stream": True})] == [Hold]
    assert [type(op) for op in ops_for(Script(steps=(Reset(),), head_delay=0.2), OPENAI, {"stream": True})] == [
        Pause,
        Abort,
    ]
    ops = ops_for(Script(steps=(Gap(0), Reset())), OPENAI, {"stream": True})
    assert [type(op) for op in ops] == [Head, Pause, Abort]
    ops = ops_for(Script(steps=(Text("a"), Stall())), OPENAI, {"stream": True})
    assert [type(op) for op in ops] == [Head, Write, Hold]


def test_stream_error_and_truncate_end_the_body() -> None:
    ops = ops_for(
        Script(steps=(Text("a"), StreamError("overloaded_error", "busy"), Text("b"))), ANTHROPIC, {"stream": True}
    )
    assert isinstance(ops[-1], End)
    events = sse_events(body_bytes(ops))
    assert events[-1][0] == "error"
    assert json.loads(events[-1][1]) == {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    ops = ops_for(Script(steps=(Text("a"), Truncate(), Text("b"))), OPENAI, {"stream": True})
    assert isinstance(ops[-1], End) and b"[DONE]" not in body_bytes(ops)


def test_non_streaming_waits_then_answers_with_content_length() -> None:
    script = Script(steps=(Text("a"), Gap(0.1), Text("b"), ToolCall("t", '{"k": 2}')), head_delay=0.2)
    ops = ops_for(script, ANTHROPIC, {"model": "m"})
    assert [type(op) for op in ops] == [Pause, Pause, Head, Write, End]
    head, write = ops[2], ops[3]
    assert isinstance(head, Head) and isinstance(write, Write)
    assert ("content-length", str(len(write.data))) in head.headers
    message = json.loads(write.data)
    assert message["content"] == [
        {"type": "text", "text": "ab"},
        {"type": "tool_use", "id": "toolu_mock000007_0", "name": "t", "input": {"k": 2}},
    ]
    assert message["stop_reason"] == "tool_use"


def test_non_streaming_malformed_and_truncated_bodies() -> None:
    ops = ops_for(Script(steps=(Malformed(b"{oops"),)), OPENAI, {})
    assert body_bytes(ops) == b"{oops"
    ops = ops_for(Script(steps=(Text("hello"), Truncate())), OPENAI, {})
    with pytest.raises(ValueError):
        json.loads(body_bytes(ops))


def test_http_error_rendering() -> None:
    ops = ops_for(HTTPError(429, retry_after=1.5, should_retry=False, head_delay=0.1), ANTHROPIC, {})
    assert [type(op) for op in ops] == [Pause, Head, Write, End]
    head = ops[1]
    assert isinstance(head, Head) and head.status == 429
    assert ("retry-after", "1.5") in head.headers and ("x-should-retry", "false") in head.headers
    assert json.loads(body_bytes(ops))["error"]["type"] == "rate_limit_error"
    ops = ops_for(HTTPError(500, body=b"plain text"), OPENAI, {"stream": True})
    assert body_bytes(ops) == b"plain text"


def test_stop_reason_mapping() -> None:
    data = body_bytes(ops_for(Script(steps=(Text("a"),), stop_reason="max_tokens"), OPENAI, {"stream": True}))
    assert b'"finish_reason":"length"' in data
    data = body_bytes(ops_for(Script(steps=(Text("a"),), stop_reason="max_tokens"), ANTHROPIC, {"stream": True}))
    assert b'"stop_reason":"max_tokens"' in data


def test_script_constructors() -> None:
    simple = Script.simple("Hello from abortkit.", chunks=4)
    assert "".join(s.text for s in simple.steps if isinstance(s, Text)) == "Hello from abortkit."
    assert len(simple.steps) == 4
    assert len(Script.burst(50).steps) == 50
    gap = Script.thinking_gap(first="A", gap=2.0, then="B", keepalive_every=0.5)
    assert gap.steps == (Text("A"), Gap(2.0, 0.5), Text("B"))
    late = Script.headers_after(1.5)
    assert late.head_delay == 1.5 and late.steps
    assert isinstance(Script(steps=[Text("list")]).steps, tuple)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Gap(-1),
        lambda: Gap(float("nan")),
        lambda: Gap(1, keepalive_every=0),
        lambda: Script(head_delay=-0.1),
        lambda: Script(status=99),
        lambda: Script(steps=("text",)),  # type: ignore[arg-type]
        lambda: HTTPError(200),
        lambda: ToolCall("f", chunk_size=0),
    ],
)
def test_invalid_scripts_are_refused(make: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()
