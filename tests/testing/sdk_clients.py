"""Real SDK clients for the mock server's newer dialects, plain or TLS, with retries off.

One reading function per SDK streams a whole answer the way an application would, and returns
what it saw (text, thinking, tool calls, the finish), so the dialect tests can compare the
same script across Responses, Gemini, Ollama and Bedrock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import httpx2
import ollama
import openai
from botocore.config import Config
from google import genai
from google.genai import types as genai_types

from abortkit.testing import MockLLMServer
from tests._helpers.sdk_http import sdk_http_client

MESSAGES: Any = [{"role": "user", "content": "hi"}]
BEDROCK_MESSAGES: Any = [{"role": "user", "content": [{"text": "hi"}]}]
TIMEOUT = 1.0
"""Read timeout for the stall cases: the SDK must give up on a silent stream."""


@dataclass
class Seen:
    """What one streamed (or complete) answer carried, SDK-independently."""

    text: str = ""
    thinking: str = ""
    tools: list[tuple[str, str, Any]] = field(default_factory=list)  # (id, name, parsed arguments)
    finish: str | None = None
    usage: tuple[int, int] | None = None  # (input, output)
    chunks: int = 0


def openai_client(server: MockLLMServer, *, asynchronous: bool = False) -> Any:
    http = sdk_http_client("openai", server, asynchronous=asynchronous, timeout=TIMEOUT)
    cls: Any = openai.AsyncOpenAI if asynchronous else openai.OpenAI
    return cls(base_url=server.openai_base_url, api_key="sk-test", max_retries=0, http_client=http)


def gemini_client(server: MockLLMServer) -> genai.Client:
    verify: Any = server.ssl_context() if server.tls else True
    options = genai_types.HttpOptions(
        base_url=server.gemini_base_url,
        timeout=int(TIMEOUT * 1000),
        httpx_client=httpx2.Client(verify=verify),
        httpx_async_client=httpx2.AsyncClient(verify=verify),
    )
    return genai.Client(api_key="gm-test", http_options=options)


def ollama_client(server: MockLLMServer, *, asynchronous: bool = False) -> Any:
    verify: Any = server.ssl_context() if server.tls else True
    cls = ollama.AsyncClient if asynchronous else ollama.Client
    return cls(host=server.ollama_base_url, verify=verify, timeout=httpx.Timeout(TIMEOUT))


def bedrock_client(server: MockLLMServer) -> Any:
    return boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.bedrock_base_url,
        aws_access_key_id="AKIDMOCK",
        aws_secret_access_key="mock-secret",
        verify=server.ca_cert_pem_path if server.tls else True,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=TIMEOUT, connect_timeout=TIMEOUT),
    )


# -- reading one answer -------------------------------------------------------------------------


def read_responses(server: MockLLMServer, *, stream: bool = True) -> Seen:
    client = openai_client(server)
    seen = Seen()
    if not stream:
        response = client.responses.create(model="gpt-test", input="hi")
        return _responses_complete(response, seen)
    for event in client.responses.create(model="gpt-test", input="hi", stream=True):
        seen.chunks += 1
        if event.type == "response.output_text.delta":
            seen.text += event.delta
        elif event.type == "response.reasoning_summary_text.delta":
            seen.thinking += event.delta
        elif event.type == "response.output_item.done" and event.item.type == "function_call":
            seen.tools.append((event.item.call_id, event.item.name, json.loads(event.item.arguments)))
        elif event.type in ("response.completed", "response.incomplete"):
            seen.finish = event.response.status
            usage = event.response.usage
            seen.usage = (usage.input_tokens, usage.output_tokens) if usage else None
        elif event.type == "error":
            raise RuntimeError(f"error event: {event.message}")
    return seen


def _responses_complete(response: Any, seen: Seen) -> Seen:
    for item in response.output:
        if item.type == "message":
            seen.text += "".join(part.text for part in item.content if part.type == "output_text")
        elif item.type == "reasoning":
            seen.thinking += "".join(part.text for part in item.summary)
        elif item.type == "function_call":
            seen.tools.append((item.call_id, item.name, json.loads(item.arguments)))
    seen.finish = response.status
    seen.usage = (response.usage.input_tokens, response.usage.output_tokens)
    return seen


def _gemini_chunk(chunk: Any, seen: Seen) -> None:
    seen.chunks += 1
    candidate = chunk.candidates[0]
    for part in candidate.content.parts or ():
        if part.function_call is not None:
            call = part.function_call
            seen.tools.append((call.id, call.name, call.args))
        elif part.thought:
            seen.thinking += part.text or ""
        else:
            seen.text += part.text or ""
    if candidate.finish_reason is not None:
        seen.finish = candidate.finish_reason.value
        meta = chunk.usage_metadata
        seen.usage = (meta.prompt_token_count, meta.candidates_token_count)


def read_gemini(server: MockLLMServer, *, stream: bool = True) -> Seen:
    client = gemini_client(server)
    seen = Seen()
    if not stream:
        _gemini_chunk(client.models.generate_content(model="gemini-test", contents="hi"), seen)
        return seen
    for chunk in client.models.generate_content_stream(model="gemini-test", contents="hi"):
        _gemini_chunk(chunk, seen)
    return seen


async def aread_gemini(server: MockLLMServer) -> Seen:
    client = gemini_client(server)
    seen = Seen()
    async for chunk in await client.aio.models.generate_content_stream(model="gemini-test", contents="hi"):
        _gemini_chunk(chunk, seen)
    return seen


def _ollama_chunk(chunk: Any, seen: Seen) -> None:
    seen.chunks += 1
    message = chunk.message
    seen.text += message.content or ""
    seen.thinking += message.thinking or ""
    for call in message.tool_calls or ():
        seen.tools.append(("", call.function.name, dict(call.function.arguments)))
    if chunk.done:
        seen.finish = chunk.done_reason
        seen.usage = (chunk.prompt_eval_count, chunk.eval_count)


def read_ollama(server: MockLLMServer, *, stream: bool = True) -> Seen:
    client = ollama_client(server)
    seen = Seen()
    if not stream:
        _ollama_chunk(client.chat(model="llama-test", messages=MESSAGES, stream=False), seen)
        return seen
    for chunk in client.chat(model="llama-test", messages=MESSAGES, stream=True):
        _ollama_chunk(chunk, seen)
    return seen


async def aread_ollama(server: MockLLMServer) -> Seen:
    client = ollama_client(server, asynchronous=True)
    seen = Seen()
    async for chunk in await client.chat(model="llama-test", messages=MESSAGES, stream=True):
        _ollama_chunk(chunk, seen)
    return seen


def _bedrock_event(event: dict[str, Any], seen: Seen, tool_args: dict[int, list[str]], tool_heads: dict[int, Any]) -> None:
    seen.chunks += 1
    if "contentBlockStart" in event:
        start = event["contentBlockStart"]
        tool_heads[start["contentBlockIndex"]] = start["start"]["toolUse"]
        tool_args[start["contentBlockIndex"]] = []
    elif "contentBlockDelta" in event:
        index, delta = event["contentBlockDelta"]["contentBlockIndex"], event["contentBlockDelta"]["delta"]
        if "text" in delta:
            seen.text += delta["text"]
        elif "reasoningContent" in delta:
            seen.thinking += delta["reasoningContent"].get("text", "")
        elif "toolUse" in delta:
            tool_args[index].append(delta["toolUse"]["input"])
    elif "contentBlockStop" in event:
        index = event["contentBlockStop"]["contentBlockIndex"]
        if index in tool_heads:
            head = tool_heads.pop(index)
            seen.tools.append((head["toolUseId"], head["name"], json.loads("".join(tool_args.pop(index)))))
    elif "messageStop" in event:
        seen.finish = event["messageStop"]["stopReason"]
    elif "metadata" in event:
        usage = event["metadata"]["usage"]
        seen.usage = (usage["inputTokens"], usage["outputTokens"])


def read_bedrock(server: MockLLMServer, *, stream: bool = True) -> Seen:
    client = bedrock_client(server)
    seen = Seen()
    if not stream:
        answer = client.converse(modelId="anthropic.claude-test-v1:0", messages=BEDROCK_MESSAGES)
        for block in answer["output"]["message"]["content"]:
            if "text" in block:
                seen.text += block["text"]
            elif "reasoningContent" in block:
                seen.thinking += block["reasoningContent"]["reasoningText"]["text"]
            elif "toolUse" in block:
                use = block["toolUse"]
                seen.tools.append((use["toolUseId"], use["name"], use["input"]))
        seen.finish = answer["stopReason"]
        seen.usage = (answer["usage"]["inputTokens"], answer["usage"]["outputTokens"])
        return seen
    tool_args: dict[int, list[str]] = {}
    tool_heads: dict[int, Any] = {}
    answer = client.converse_stream(modelId="anthropic.claude-test-v1:0", messages=BEDROCK_MESSAGES)
    for event in answer["stream"]:
        _bedrock_event(event, seen, tool_args, tool_heads)
    return seen


READERS = {"openai-responses": read_responses, "gemini": read_gemini, "ollama": read_ollama, "bedrock": read_bedrock}
