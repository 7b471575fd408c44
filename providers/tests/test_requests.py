"""What the newer providers send: one conversation (system prompt, a tool call, its result)
in each API's own shape, as the mock server received it from the real SDK."""

from __future__ import annotations

import re
from typing import Any

import botocore.exceptions
import ollama
import openai
import pytest
from abortkit_providers import IncompleteResponseError, ToolCall
from google.genai import errors as genai_errors
from provider_helpers import make_provider

from abortkit.testing import MockLLMServer, Script, StreamError, Text, Truncate

TOOLS: Any = [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {}}}]
CONVERSATION: Any = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [ToolCall("call_7", "get_weather", '{"city":"Paris"}')]},
    {"role": "tool", "content": "sunny", "tool_call_id": "call_7"},
    {"role": "user", "content": "Thanks."},
]


def sent(kind: str, server: MockLLMServer) -> Any:
    server.enqueue(Script.simple("ok"))
    make_provider(kind, server, asynchronous=False).chat_stream_response(CONVERSATION, tools=TOOLS, max_tokens=77)
    (request,) = server.requests
    return request


def test_openai_responses_request(server: MockLLMServer) -> None:
    request = sent("openai-responses", server)
    body = request.json
    assert request.path == "/v1/responses"
    assert (body["model"], body["stream"], body["max_output_tokens"], body["instructions"]) == ("m", True, 77, "Be brief.")
    assert body["input"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_7", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_7", "output": "sunny"},
        {"role": "user", "content": "Thanks."},
    ]
    assert body["tools"] == [{"type": "function", **TOOLS[0]}]


def test_gemini_request(server: MockLLMServer) -> None:
    request = sent("gemini", server)
    body = request.json
    assert re.fullmatch(r"/v1(beta)?/models/m:streamGenerateContent", request.path)  # genai 3.x: v1, 2.x: v1beta
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["generationConfig"]["maxOutputTokens"] == 77
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user", "user"]
    call = body["contents"][1]["parts"][0]["functionCall"]
    assert (call["id"], call["name"], call["args"]) == ("call_7", "get_weather", {"city": "Paris"})
    result = body["contents"][2]["parts"][0]["functionResponse"]
    assert (result["id"], result["name"], result["response"]) == ("call_7", "get_weather", {"result": "sunny"})
    (declaration,) = body["tools"][0]["functionDeclarations"]
    assert (declaration["name"], declaration["description"]) == ("get_weather", "Weather")
    assert request.headers["x-goog-api-key"] == "sk-test"


def test_ollama_request(server: MockLLMServer) -> None:
    request = sent("ollama", server)
    body = request.json
    assert request.path == "/api/chat"
    assert (body["model"], body["stream"], body["options"]["num_predict"]) == ("m", True, 77)
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][2]["tool_calls"] == [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    assert (body["messages"][3]["tool_name"], body["messages"][3]["content"]) == ("get_weather", "sunny")
    assert body["tools"] == [{"type": "function", "function": TOOLS[0]}]


def test_bedrock_request(server: MockLLMServer) -> None:
    request = sent("bedrock", server)
    body = request.json
    assert request.path == "/model/m/converse-stream"
    assert body["system"] == [{"text": "Be brief."}]
    assert body["inferenceConfig"] == {"maxTokens": 77}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "user"]
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "call_7", "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert body["messages"][2]["content"] == [{"toolResult": {"toolUseId": "call_7", "content": [{"text": "sunny"}]}}]
    spec = body["toolConfig"]["tools"][0]["toolSpec"]
    assert (spec["name"], spec["inputSchema"]) == ("get_weather", {"json": TOOLS[0]["parameters"]})
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDMOCK/")


@pytest.mark.parametrize("kind", ["openai-responses", "gemini", "ollama", "bedrock"])
def test_a_stream_without_its_end_is_incomplete(server: MockLLMServer, kind: str) -> None:
    """The upstream gave up mid-answer: an error carrying the partial, never a complete result."""
    server.enqueue(Script(steps=[Text("Hel"), Truncate()]))
    with pytest.raises(IncompleteResponseError) as info:
        make_provider(kind, server, asynchronous=False).chat_stream_response([{"role": "user", "content": "hi"}])
    assert info.value.partial.text == "Hel"
    assert server.request_count == 1


STREAM_ERRORS = {
    "openai-responses": openai.APIError,
    "gemini": genai_errors.ServerError,
    "ollama": ollama.ResponseError,
    "bedrock": botocore.exceptions.EventStreamError,
}


@pytest.mark.parametrize("kind", sorted(STREAM_ERRORS))
def test_an_in_stream_error_is_the_sdks_error(server: MockLLMServer, kind: str) -> None:
    server.enqueue(Script(steps=[Text("Hel"), StreamError("overloaded_error", "model crashed")]))
    with pytest.raises(STREAM_ERRORS[kind], match="model crashed"):
        make_provider(kind, server, asynchronous=False).chat_stream_response([{"role": "user", "content": "hi"}])
