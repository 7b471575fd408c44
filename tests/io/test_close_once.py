"""One closer: an aborted stream is closed once, by one owner.

The providers' pattern, ``close_on_abort(signal, stream)`` around
``abortable_iter(stream, signal)``, has three parties that may close the stream:
``abortable_iter``'s ``finally``, ``close_on_abort``'s exit and, in async code, the
close the abort starts on the loop. abortkit closes it once, on the consumer's thread or
loop: sync, at most once (not at all if the SDK's own unwinding already released the
response: the SDK streams' ``close()`` only closes that response); async, once (the
close the abort started, which the other two wait for); and the stream ends closed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from abortkit import AbortController, AbortError, abortable_iter, close_on_abort, instrument
from abortkit.testing import MockLLMServer, Script

from .conftest import MESSAGES, Tripper, sdk_client


def _count_closes(stream: Any, closes: list[int]) -> None:
    """Record every call of the SDK stream's close (and on which thread)."""
    original = stream.close
    if asyncio.iscoroutinefunction(original):

        async def aclose() -> None:
            closes.append(threading.get_ident())
            await original()

        stream.close = aclose
    else:

        def close() -> None:
            closes.append(threading.get_ident())
            original()

        stream.close = close


@pytest.mark.parametrize("instrumented", [False, True], ids=["plain-client", "instrumented"])
def test_an_async_abort_closes_the_stream_once(server: MockLLMServer, instrumented: bool) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=10.0, then=" world"))
    controller = AbortController()
    tripper = Tripper(controller, 0.05)
    closes: list[int] = []
    responses: list[Any] = []

    async def main() -> int:
        client = sdk_client("openai", server, asynchronous=True)
        if instrumented:
            instrument(client)
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        _count_closes(stream, closes)
        responses.append(stream.response)
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, stream):
                async for _chunk in abortable_iter(stream, controller.signal):
                    tripper.armed.set()
        await client.close()
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert tripper.unwind_seconds() < 5.0  # not the 10 s gap
    assert closes == [loop_thread], f"abortkit closed the stream {len(closes)} times"
    assert responses[0].is_closed


def test_a_sync_abort_closes_the_stream_once_on_the_consumers_thread(server: MockLLMServer) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=10.0, then=" world"))
    controller = AbortController()
    tripper = Tripper(controller, 0.05)
    closes: list[int] = []
    client = sdk_client("openai", server, asynchronous=False)
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    _count_closes(stream, closes)
    with pytest.raises(AbortError), close_on_abort(controller.signal, stream):
        for _chunk in abortable_iter(stream, controller.signal):
            tripper.armed.set()
    client.close()
    assert set(closes) <= {threading.get_ident()}
    assert len(closes) <= 1, f"abortkit closed the stream {len(closes)} times"
    assert stream.response.is_closed


def test_with_no_socket_the_abort_closes_once_and_the_iterator_does_not_close_again() -> None:
    """An object with no socket: only a close wakes its reader, so the abort closes it (in a
    task of the loop); the iterator and exit then find it closed."""
    closes: list[str] = []

    class Source:
        def __init__(self) -> None:
            self.closed = asyncio.Event()

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> int:
            await self.closed.wait()
            raise ConnectionError("closed")

        async def aclose(self) -> None:
            closes.append("aclose")
            self.closed.set()

    async def main() -> None:
        controller = AbortController()
        source = Source()
        threading.Timer(0.02, controller.abort).start()
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, source):
                async for _item in abortable_iter(source, controller.signal):
                    pass

    asyncio.run(main())
    assert closes == ["aclose"]
