"""The real openai and anthropic SDKs, sync and async, plain and TLS: abort in a thinking gap.

Two ways in: ``close_on_abort`` on an uninstrumented client (the response-level path),
and an ``instrument``-ed client under ``abort_scope`` (the network-level path). Each
must unwind with AbortError well inside the gap, keep the chunk that arrived before
the abort, send exactly one request, and make the server see the disconnect.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from abortkit import AbortController, AbortError, abort_scope, abortable_iter, close_on_abort, instrument
from abortkit.testing import MockLLMServer, Script

from .conftest import HANG_BOUND, MESSAGES, Tripper, sdk_client

GAP = 5.0


def _texts(sdk: str, item: Any) -> str | None:
    if sdk == "openai":
        return item.choices[0].delta.content if item.choices else None
    return item.text if item.type == "text" else None


def _check(server: MockLLMServer, tripper: Tripper, unwind: float, seen: list[str], error: AbortError) -> None:
    assert error.reason == "esc"
    assert unwind < HANG_BOUND, f"unwound {unwind * 1000:.1f} ms after the abort (gap is {GAP} s)"
    assert seen == ["Hello"]
    assert server.request_count == 1
    (request,) = server.requests
    disconnected = server.wait_for_disconnect(request, 2.0)
    assert disconnected is not None, "the server never saw the connection close"
    assert not request.completed


def _sync_stream(sdk: str, client: Any) -> Any:
    if sdk == "openai":
        return client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    return client.messages.stream(model="m", messages=MESSAGES, max_tokens=64).__enter__()


async def _async_stream(sdk: str, client: Any) -> Any:
    if sdk == "openai":
        return await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    return await client.messages.stream(model="m", messages=MESSAGES, max_tokens=64).__aenter__()


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("path", ["close_on_abort", "instrumented"])
def test_sync_abort_mid_gap(server: MockLLMServer, sdk: str, path: str) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))
    client = sdk_client(sdk, server, asynchronous=False)
    if path == "instrumented":
        instrument(client)
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05)
    seen: list[str] = []
    with pytest.raises(AbortError) as info:
        if path == "instrumented":
            with abort_scope(controller.signal):
                stream = _sync_stream(sdk, client)
                for item in abortable_iter(stream, controller.signal):
                    if text := _texts(sdk, item):
                        seen.append(text)
                        tripper.armed.set()
        else:
            stream = _sync_stream(sdk, client)
            with close_on_abort(controller.signal, stream):
                for item in abortable_iter(stream, controller.signal):
                    if text := _texts(sdk, item):
                        seen.append(text)
                        tripper.armed.set()
    _check(server, tripper, tripper.unwind_seconds(), seen, info.value)
    assert controller.signal.listener_count == 0


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("path", ["close_on_abort", "instrumented"])
def test_async_abort_mid_gap_from_another_thread(server: MockLLMServer, sdk: str, path: str) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05)
    seen: list[str] = []

    async def consume() -> float:
        client = sdk_client(sdk, server, asynchronous=True)
        if path == "instrumented":
            instrument(client)
        with pytest.raises(AbortError) as info:
            if path == "instrumented":
                async with abort_scope(controller.signal):
                    stream = await _async_stream(sdk, client)
                    async for item in abortable_iter(stream, controller.signal):
                        if text := _texts(sdk, item):
                            seen.append(text)
                            tripper.armed.set()
            else:
                stream = await _async_stream(sdk, client)
                async with close_on_abort(controller.signal, stream):
                    async for item in abortable_iter(stream, controller.signal):
                        if text := _texts(sdk, item):
                            seen.append(text)
                            tripper.armed.set()
        unwind = tripper.unwind_seconds()
        _check(server, tripper, unwind, seen, info.value)
        await client.close()
        return unwind

    asyncio.run(consume())
    assert controller.signal.listener_count == 0


@pytest.mark.parametrize("legacy", [False, True], ids=["httpx2", "httpx"])
def test_bare_httpx_response_both_stacks(server: MockLLMServer, legacy: bool) -> None:
    """close_on_abort on a plain streaming Response of httpx2 and of httpx 0.28."""
    from .conftest import http_client

    server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))
    controller = AbortController()
    tripper = Tripper(controller, delay=0.05)
    chunks: list[bytes] = []
    with http_client(server, legacy=legacy) as http:
        body = {"model": "m", "messages": MESSAGES, "stream": True}
        with http.stream("POST", server.openai_base_url + "/chat/completions", json=body) as response:
            with pytest.raises(AbortError), close_on_abort(controller.signal, response):
                for chunk in abortable_iter(response.iter_bytes(), controller.signal):
                    chunks.append(chunk)
                    tripper.armed.set()
            assert response.is_closed
    assert tripper.unwind_seconds() < HANG_BOUND
    assert b"Hello" in b"".join(chunks) and b"world" not in b"".join(chunks)


def test_async_task_cancel_closes_the_stream(server: MockLLMServer) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))

    async def main() -> None:
        client = sdk_client("openai", server, asynchronous=True)
        controller = AbortController()
        got_first = asyncio.Event()

        async def consume() -> None:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            async with close_on_abort(controller.signal, stream):
                async for _ in abortable_iter(stream, controller.signal):
                    got_first.set()

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(got_first.wait(), 5)
        cancelled_at = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (request,) = server.requests
        disconnected = server.wait_for_disconnect(request, 2.0)
        assert disconnected is not None and disconnected - cancelled_at < 1.0
        await client.close()

    asyncio.run(main())
