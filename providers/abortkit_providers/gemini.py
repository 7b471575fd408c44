"""Gemini through google-genai (``models.generate_content_stream``, sync and ``client.aio``).

The SDK streams over httpx2 (or httpx) by default, and over aiohttp for async calls when
aiohttp is installed; it keeps its HTTP clients on ``client._api_client``, not where
``instrument()`` looks (``_client``). So this provider always hands the SDK its own httpx
clients (``HttpOptions(httpx_client=..., httpx_async_client=...)``: the given ``http_client``
for its side, a plain httpx2 client for the other), which keeps aiohttp out, and instruments
those. A ``genai.Client`` passed as ``client``/``async_client`` is accepted only if the side it
serves reaches a plain httpx/httpx2 client: the SDK's default async client keeps one pool per
event loop, built lazily where nothing can instrument it, and aiohttp has no abortkit support
yet; both are refused with a ``TypeError`` rather than accepted half-abortable.

The stream is a generator (the request is sent on the first ``next``), so the read that
blocks in a thinking gap is woken by the instrumented network layer rather than by
``close_on_abort`` (which cannot close a running generator from another thread).

``max_retries`` becomes the SDK's ``HttpRetryOptions(attempts=max_retries + 1)`` (its
retries on 408/429/5xx and transport errors). An aborted attempt is never retried; an abort
during the SDK's back-off sleep (tenacity's, which abortkit does not wrap) takes effect when
the sleep ends, before any new request.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
from google import genai
from google.genai import types

from abortkit import AbortSignal, abortable_iter, instrument

from ._accumulate import Accumulator
from ._base import ChatRequest, Provider
from ._history import arguments_object, system_text, tool_call_names
from ._types import Message, ToolCall, Usage

__all__ = ["GeminiProvider"]


def _content(message: Message, names: dict[str, str]) -> dict[str, Any]:
    role = message["role"]
    if role == "tool":
        call_id = message.get("tool_call_id", "")
        response = {"id": call_id, "name": names.get(call_id, ""), "response": {"result": message["content"]}}
        return {"role": "user", "parts": [{"function_response": response}]}
    parts: list[dict[str, Any]] = [{"text": message["content"]}] if message["content"] else []
    parts += [
        {"function_call": {"id": c.id, "name": c.name, "args": arguments_object(c.arguments)}}
        for c in message.get("tool_calls", ())
    ]
    return {"role": "model" if role == "assistant" else "user", "parts": parts or [{"text": ""}]}


def _api_client(client: Any) -> Any:
    return getattr(client, "_api_client", None)


class GeminiProvider(Provider):
    """``base_url`` is the API root (``https://generativelanguage.googleapis.com``)."""

    def _check_client(self, name: str, given: Any, asynchronous: bool) -> None:
        if not isinstance(given, genai.Client):
            raise TypeError(f"{name} must be a google.genai Client, not {type(given).__name__}")

    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        given = options.get("http_client")
        sync_http = given if given is not None and not asynchronous else httpx2.Client()
        async_http = given if given is not None and asynchronous else httpx2.AsyncClient()
        retries = options["max_retries"]
        http_options = types.HttpOptions(
            base_url=options["base_url"],
            httpx_client=sync_http,
            httpx_async_client=async_http,
            retry_options=types.HttpRetryOptions(attempts=retries + 1) if retries else None,
        )
        return genai.Client(api_key=options["api_key"], http_options=http_options)

    def _instrument(self, client: Any, asynchronous: bool) -> Any:
        """Instrument the httpx client that serves this side of the genai client."""
        api = _api_client(client)
        http = getattr(api, "_async_httpx_client" if asynchronous else "_httpx_client", None)
        if http is None or getattr(http, "_per_loop", False) or (asynchronous and api._use_aiohttp()):
            slot = "async_client" if asynchronous else "client"
            raise TypeError(
                f"{slot}: this genai.Client's {'async ' if asynchronous else ''}requests go through an HTTP client "
                "abortkit cannot reach (one pool per event loop, or aiohttp); build it with "
                "HttpOptions(httpx_client=..., httpx_async_client=...)"
            )
        instrument(http)
        return client

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        names = tool_call_names(request.messages)
        config: dict[str, Any] = {
            "max_output_tokens": request.max_tokens,
            "automatic_function_calling": {"disable": True},
        }
        system = system_text(request.messages)
        if system:
            config["system_instruction"] = system
        if request.tools:
            declarations = [{k: t[k] for k in ("name", "description", "parameters")} for t in request.tools]
            config["tools"] = [{"function_declarations": declarations}]
        contents = [_content(m, names) for m in request.messages if m["role"] != "system"]
        return {"model": self.model, "contents": contents, "config": config}

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        chunks = self.sdk_client().models.generate_content_stream(**self._create_args(request))
        for chunk in abortable_iter(chunks, signal):
            _apply(chunk, acc)

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        chunks = await self.sdk_client(True).aio.models.generate_content_stream(**self._create_args(request))
        async for chunk in abortable_iter(chunks, signal):
            _apply(chunk, acc)


def _apply(chunk: Any, acc: Accumulator) -> None:
    """Feed one ``GenerateContentResponse`` chunk to the accumulator."""
    if chunk.usage_metadata is not None:
        acc.usage = Usage(chunk.usage_metadata.prompt_token_count, chunk.usage_metadata.candidates_token_count)
    for candidate in (chunk.candidates or [])[:1]:
        parts = candidate.content.parts if candidate.content is not None else None
        for part in parts or ():
            call = part.function_call
            if call is not None:
                call_id = call.id or f"call_{acc.tool_call_count}"
                acc.tool_call(ToolCall(call_id, call.name or "", json.dumps(call.args or {}, separators=(",", ":"))))
            elif part.thought:
                acc.thinking(part.text or "")
            elif part.text:
                acc.text(part.text)
        if candidate.finish_reason is not None:
            acc.stop_reason = candidate.finish_reason.value
