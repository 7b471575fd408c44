"""Abort while the TCP connect itself hangs (a listener whose accept queue is full).

Without the helper-thread connect, the sync case waits for the connect timeout;
with it, it unwinds at once. Written before the fix: it failed with a 5 s wait.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from abortkit import AbortController, AbortError, abort_scope, instrument
from tests._helpers.sdk_http import sdk_http

from .conftest import HANG_BOUND, MESSAGES, Tripper


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port whose connects hang: backlog 0, one connection parked in the queue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    parked = socket.create_connection(("127.0.0.1", port))
    probe = socket.socket()
    probe.settimeout(0.3)
    with pytest.raises(OSError):  # check the premise: a further connect hangs
        probe.connect(("127.0.0.1", port))
    probe.close()
    yield port
    parked.close()
    listener.close()


def arm_on_request(tripper: Tripper) -> Any:
    """An httpx/httpx2 request hook that arms ``tripper`` as the client sends the request (the
    connect follows at once): the SDK's own work before it (building the request: hundreds of
    ms on the first call of openai 2.x) is not the phase this test aborts."""

    def arm(_request: Any) -> None:
        tripper.armed.set()

    return arm


def test_sync_abort_while_connecting(black_hole: int) -> None:
    http = sdk_http("openai")
    controller = AbortController()
    tripper = Tripper(controller, 0.1)
    hooks = {"request": [arm_on_request(tripper)]}
    client = instrument(openai.OpenAI(base_url=f"http://127.0.0.1:{black_hole}/v1", api_key="k",
                                      http_client=http.Client(timeout=http.Timeout(5.0), event_hooks=hooks)))
    started = time.perf_counter()
    with pytest.raises(AbortError), abort_scope(controller.signal):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert tripper.tripped_at is not None, f"unwound before the abort, after {time.perf_counter() - started:.2f} s"
    assert tripper.unwind_seconds() < HANG_BOUND


def test_async_abort_while_connecting(black_hole: int) -> None:
    http = sdk_http("openai")

    async def main() -> None:
        controller = AbortController()
        tripper = Tripper(controller, 0.1)
        sync_arm = arm_on_request(tripper)

        async def arm(request: Any) -> None:
            sync_arm(request)

        hooks = {"request": [arm]}
        client = instrument(openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{black_hole}/v1", api_key="k",
                                               http_client=http.AsyncClient(timeout=5.0, event_hooks=hooks)))
        with pytest.raises(AbortError):
            async with abort_scope(controller.signal):
                await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert tripper.tripped_at is not None and tripper.unwind_seconds() < HANG_BOUND

    asyncio.run(main())
