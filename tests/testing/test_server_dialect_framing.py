"""Byte-level details of the newer dialects, without sockets: the AWS event-stream framing and
its CRCs (checked by botocore's own decoder), each protocol's keepalive (or its absence), the
SSE/NDJSON framing, and which path routes to which dialect.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from abortkit.testing._bedrock import BedrockConverse
from abortkit.testing._eventstream import CONTENT_TYPE, encode_message
from abortkit.testing._gemini import GeminiGenerate
from abortkit.testing._ollama import OllamaChat
from abortkit.testing._openai_responses import OpenAIResponses
from abortkit.testing._render import End, Head, Op, Pause, Write, render
from abortkit.testing._routes import find_route
from abortkit.testing._script import Gap, Script, StreamError, Text, Thinking, ToolCall


def ops_for(script: Script, dialect: Any, *, stream: bool = True) -> list[Op]:
    return list(render(script, dialect, {"model": "m"}, seq=3, stream=stream))


def body_of(ops: list[Op]) -> bytes:
    return b"".join(op.data for op in ops if isinstance(op, Write))


def decode_event_stream(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


# -- AWS event stream ----------------------------------------------------------------------------


def test_event_stream_message_decodes_in_botocore() -> None:
    headers = {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    payload = '{"delta":{"text":"héllo"}}'.encode()
    first = encode_message(headers, payload)
    assert int.from_bytes(first[:4], "big") == len(first)
    data = first + encode_message({":event-type": "messageStop"}, b"{}")
    assert decode_event_stream(data) == [(headers, payload), ({":event-type": "messageStop"}, b"{}")]


@pytest.mark.parametrize("where", [2, 9, 20, 45, -1], ids=["length", "prelude-crc", "header", "payload", "message-crc"])
def test_a_corrupted_byte_fails_a_crc(where: int) -> None:
    data = bytearray(encode_message({":event-type": "messageStart"}, b'{"role":"assistant"}'))
    data[where] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        decode_event_stream(bytes(data))


def test_event_stream_refuses_a_header_it_cannot_frame() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode_message({"x" * 256: "v"}, b"")


def test_bedrock_stream_events_and_exception() -> None:
    script = Script(steps=(Thinking("hm", signature="sig"), Text("Hi"), ToolCall("f", '{"a":1}', chunk_size=3),
                           StreamError("rate_limit_error", "slow")))
    ops = ops_for(script, BedrockConverse())
    head = ops[0]
    assert isinstance(head, Head) and ("content-type", CONTENT_TYPE) in head.headers
    messages = decode_event_stream(body_of(ops))
    kinds = [h.get(":event-type", h.get(":exception-type")) for h, _ in messages]
    assert kinds == ["messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop", "contentBlockDelta",
                     "contentBlockStop", "contentBlockStart", "contentBlockDelta", "contentBlockDelta",
                     "contentBlockDelta", "contentBlockStop", "throttlingException"]
    assert json.loads(messages[2][1]) == {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}
    assert messages[-1][0][":message-type"] == "exception"


def test_bedrock_http_error_names_its_type_in_a_header() -> None:
    from abortkit.testing._script import HTTPError

    ops = list(render(HTTPError(429, message="slow"), BedrockConverse(), {}, seq=1))
    head = ops[0]
    assert isinstance(head, Head) and head.status == 429
    assert dict(head.headers)["x-amzn-errortype"].startswith("ThrottlingException:")
    assert json.loads(body_of(ops)) == {"message": "slow"}


# -- keepalives and framing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "keepalive"),
    [(OpenAIResponses(), b": keepalive\n\n"), (GeminiGenerate(), None), (OllamaChat(), None), (BedrockConverse(), None)],
    ids=["openai-responses", "gemini", "ollama", "bedrock"],
)
def test_a_gap_sends_the_protocols_keepalive_or_stays_silent(dialect: Any, keepalive: bytes | None) -> None:
    ops = ops_for(Script(steps=(Text("a"), Gap(1.0, keepalive_every=0.25), Text("b"))), dialect)
    (pause,) = [op for op in ops if isinstance(op, Pause)]
    assert pause.seconds == 1.0
    assert pause.keepalive == keepalive
    assert pause.every == (0.25 if keepalive is not None else None)


def test_responses_events_are_named_numbered_and_end_with_completed() -> None:
    ops = ops_for(Script(steps=(Thinking("t"), Text("a"), ToolCall("f", "{}"))), OpenAIResponses())
    assert isinstance(ops[-1], End)
    blocks = [b for b in body_of(ops).decode().split("\n\n") if b]
    events = []
    for block in blocks:
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == name_line.removeprefix("event: ")
        events.append(data)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert [item["type"] for item in events[-1]["response"]["output"]] == ["reasoning", "message", "function_call"]
    assert b"[DONE]" not in body_of(ops)


def test_gemini_events_end_with_crlf_pairs() -> None:
    data = body_of(ops_for(Script.simple("ab", chunks=2), GeminiGenerate()))
    events = data.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: {") for e in events[:-1])
    last = json.loads(events[-2].removeprefix(b"data: "))
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["modelVersion"] == "m"


def test_ollama_lines_are_whole_json_objects() -> None:
    data = body_of(ops_for(Script.simple("ab", chunks=2), OllamaChat()))
    assert data.endswith(b"\n")
    lines = [json.loads(line) for line in data.splitlines()]
    assert [(line["message"]["content"], line["done"]) for line in lines] == [("a", False), ("b", False), ("", True)]
    assert lines[-1]["done_reason"] == "stop"


# -- routes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "body", "stream", "model"),
    [
        ("/v1/responses", "openai-responses", {"stream": True}, True, None),
        ("/v1/responses", "openai-responses", {}, False, None),
        ("/v1beta/models/gemini-2.5-pro:streamGenerateContent", "gemini", {}, True, "gemini-2.5-pro"),
        ("/v1/models/gemini-2.5-pro:generateContent", "gemini", {"stream": True}, False, "gemini-2.5-pro"),
        ("/api/chat", "ollama", {}, True, None),
        ("/api/chat", "ollama", {"stream": False}, False, None),
        ("/model/anthropic.claude-v2%3A1/converse-stream", "bedrock", {}, True, "anthropic.claude-v2:1"),
        ("/model/m/converse", "bedrock", {"stream": True}, False, "m"),
    ],
)
def test_routes(path: str, name: str, body: dict[str, Any], stream: bool, model: str | None) -> None:
    route = find_route(path)
    assert route is not None
    assert (route.name, route.streams(body), route.model) == (name, stream, model)


@pytest.mark.parametrize("path", ["/v1/models", "/v1beta/models/g:countTokens", "/model/m/invoke", "/api/generate", "/"])
def test_unknown_paths_have_no_route(path: str) -> None:
    assert find_route(path) is None


def test_the_path_model_is_echoed_unless_the_script_names_one() -> None:
    dialect = GeminiGenerate()
    echoed = list(render(Script.simple("a"), dialect, {}, seq=1, stream=False, model="from-path"))
    named = list(render(Script(steps=(Text("a"),), model="scripted"), dialect, {}, seq=1, stream=False, model="p"))
    assert json.loads(body_of(echoed))["modelVersion"] == "from-path"
    assert json.loads(body_of(named))["modelVersion"] == "scripted"
