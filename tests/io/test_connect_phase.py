"""Abort while the TCP connect itself hangs (a listener whose accept queue is full).

Without the helper-thread connect, the sync case waits for the connect timeout;
with it, it unwinds at once. Written before the fix: it failed with a 5 s wait.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest

from abortkit import AbortController, AbortError, abort_scope, instrument

from .conftest import HANG_BOUND, MESSAGES


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


def trip_later(controller: AbortController, delay: float) -> list[float]:
    tripped: list[float] = []

    def run() -> None:
        time.sleep(delay)
        tripped.append(time.perf_counter())
        controller.abort("esc")

    threading.Thread(target=run, daemon=True).start()
    return tripped


def test_sync_abort_while_connecting(black_hole: int) -> None:
    timeout = httpx2.Timeout(5.0)
    client = instrument(openai.OpenAI(base_url=f"http://127.0.0.1:{black_hole}/v1", api_key="k",
                                      http_client=httpx2.Client(timeout=timeout)))
    controller = AbortController()
    tripped = trip_later(controller, 0.1)
    started = time.perf_counter()
    with pytest.raises(AbortError), abort_scope(controller.signal):
        client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    assert tripped, f"unwound before the abort, after {time.perf_counter() - started:.2f} s"
    assert time.perf_counter() - tripped[0] < HANG_BOUND


def test_async_abort_while_connecting(black_hole: int) -> None:
    async def main() -> None:
        client = instrument(openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{black_hole}/v1", api_key="k",
                                               http_client=httpx2.AsyncClient(timeout=5.0)))
        controller = AbortController()
        tripped = trip_later(controller, 0.1)
        with pytest.raises(AbortError):
            async with abort_scope(controller.signal):
                await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        assert tripped and time.perf_counter() - tripped[0] < HANG_BOUND

    asyncio.run(main())
