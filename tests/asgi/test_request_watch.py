"""The middleware's bookkeeping, driven by a scripted ASGI server (pure logic, one asyncio loop).

The real servers are in ``test_disconnect_phases.py``; here a fake server lets each test decide
exactly what ``receive()`` returns and when ``send()`` fails, which no real server does on
demand (uvicorn and hypercorn drop a send after a disconnect silently, so the failed-send path
is only reachable this way).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from abortkit.asgi import AbortOnDisconnect, ClientDisconnected, request_signal

Message = dict[str, Any]


class FakeServer:
    """``receive()`` returns what the test feeds it; ``send()`` records, or raises ``fail_with``."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.receive_calls = 0
        self.sent: list[Message] = []
        self.fail_with: BaseException | None = None
        self.receive_error: BaseException | None = None

    async def receive(self) -> Message:
        self.receive_calls += 1
        if self.receive_error is not None:
            raise self.receive_error
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)

    def feed(self, *messages: Message) -> None:
        for message in messages:
            self.inbox.put_nowait(message)


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


DISCONNECT: Message = {"type": "http.disconnect"}
START: Message = {"type": "http.response.start", "status": 200, "headers": []}


def scope(**extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": [], **extra}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def serve(app: Callable[..., Awaitable[None]], server: FakeServer, **options: Any) -> Awaitable[None]:
    return AbortOnDisconnect(app, **options)(scope(), server.receive, server.send)


def test_a_failed_send_trips_the_signal_before_the_error_reaches_the_app() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        signal = request_signal(scope)
        await send(START)
        try:
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
        except OSError as exc:
            seen["error"], seen["aborted"], seen["reason"] = exc, signal.aborted, signal.reason
            raise

    server_error = None

    async def run() -> None:
        nonlocal server_error
        server = FakeServer()
        server.feed(body(b"{}"))
        original = server.send
        calls = 0

        async def failing_second_body(message: Message) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise ConnectionResetError("peer reset")
            await original(message)

        server.send = failing_second_body  # type: ignore[method-assign]
        with pytest.raises(ConnectionResetError) as info:
            await serve(app, server)
        server_error = info.value

    asyncio.run(run())
    assert seen["aborted"] is True and seen["error"] is server_error
    reason = seen["reason"]
    assert isinstance(reason, ClientDisconnected) and reason.via == "send" and reason.__cause__ is server_error


def test_a_failed_send_after_the_response_completed_does_not_trip() -> None:
    signals: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        signals.append(request_signal(scope))
        await send(START)
        await send({"type": "http.response.body", "body": b"done"})

    async def run() -> None:
        server = FakeServer()
        await serve(app, server)
        server.feed(DISCONNECT)  # uvicorn's completion-disconnect, after the app returned
        await settle()

    asyncio.run(run())
    assert not signals[0].aborted


def test_a_disconnect_during_the_final_send_does_not_trip() -> None:
    """The final message was handed over: a disconnect now may be the completion's own."""
    signals: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        signals.append(request_signal(scope))
        await send(START)
        await send({"type": "http.response.body", "body": b"done"})

    async def run() -> None:
        server = FakeServer()
        server.feed(body(b"{}"))
        original = server.send

        async def slow_final(message: Message) -> None:
            if message["type"] == "http.response.body":
                server.feed(DISCONNECT)
                await settle()  # the pump receives it while this send is in flight
                assert server.inbox.empty()
            await original(message)

        server.send = slow_final  # type: ignore[method-assign]
        await serve(app, server)

    asyncio.run(run())
    assert not signals[0].aborted


@pytest.mark.parametrize(
    "final",
    [
        {"type": "http.response.pathsend", "path": "/tmp/x"},
        {"type": "http.response.zerocopysend", "file": 3, "more_body": False},
    ],
    ids=["pathsend", "zerocopysend"],
)
def test_other_final_messages_end_the_guard(final: Message) -> None:
    signals: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        signals.append(request_signal(scope))
        await send(START)
        await send(final)
        await asyncio.sleep(0.01)  # the app lingers after the response (logging, cleanup)

    async def run() -> None:
        server = FakeServer()
        server.feed(body(b"{}"))
        task = asyncio.ensure_future(serve(app, server))
        await settle()
        server.feed(DISCONNECT)
        await task

    asyncio.run(run())
    assert not signals[0].aborted


def test_with_trailers_the_last_trailers_message_is_final() -> None:
    states: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        signal = request_signal(scope)
        await send({**START, "trailers": True})
        await send({"type": "http.response.body", "body": b"x", "more_body": False})
        await asyncio.sleep(0.01)  # trailers not sent yet: a disconnect now is an abort
        states.append(signal.aborted)

    async def run() -> None:
        server = FakeServer()
        server.feed(body(b"{}"))
        task = asyncio.ensure_future(serve(app, server))
        await settle()
        server.feed(DISCONNECT)
        await task

    asyncio.run(run())
    assert states == [True]


def test_the_server_receive_error_reaches_the_app_and_does_not_trip() -> None:
    outcome: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await receive()
        except RuntimeError as exc:
            outcome["error"] = exc
        outcome["aborted"] = request_signal(scope).aborted

    async def run() -> None:
        server = FakeServer()
        server.receive_error = RuntimeError("server receive broke")
        await serve(app, server)

    asyncio.run(run())
    assert str(outcome["error"]) == "server receive broke" and outcome["aborted"] is False


def test_concurrent_receivers_get_each_message_once_in_order_then_the_disconnect() -> None:
    got: list[list[Message]] = [[], [], []]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def reader(index: int) -> None:
            while True:
                message = await receive()
                got[index].append(message)
                if message["type"] == "http.disconnect":
                    return

        await asyncio.gather(*(reader(i) for i in range(3)))

    async def run() -> None:
        server = FakeServer()
        task = asyncio.ensure_future(serve(app, server))
        for i in range(30):
            server.feed(body(str(i).encode(), more=True))
            if i % 7 == 0:
                await settle()
        server.feed(DISCONNECT)
        await task

    asyncio.run(run())
    bodies = sorted(int(m["body"]) for messages in got for m in messages if m["type"] == "http.request")
    assert bodies == list(range(30))  # none lost, none twice
    for messages in got:
        numbers = [int(m["body"]) for m in messages if m["type"] == "http.request"]
        assert numbers == sorted(numbers)  # each reader saw them in the server's order
        assert messages[-1] == DISCONNECT  # sticky: every reader got the disconnect


def test_a_cancelled_receive_loses_nothing() -> None:
    got: list[Message] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(receive(), 0.01)  # what is_disconnected() does, in effect
        got.append(await receive())

    async def run() -> None:
        server = FakeServer()
        task = asyncio.ensure_future(serve(app, server))
        await asyncio.sleep(0.05)
        server.feed(body(b"payload"))
        await task

    asyncio.run(run())
    assert got == [body(b"payload")]


def test_back_pressure_the_pump_stops_reading_at_the_limit() -> None:
    async def run() -> None:
        server = FakeServer()
        release = asyncio.Event()
        taken: list[bytes] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await release.wait()
            while True:
                message = await receive()
                taken.append(message["body"])
                if not message["more_body"]:
                    return

        task = asyncio.ensure_future(serve(app, server, max_body_buffer=1000))
        for _ in range(10):
            server.feed(body(b"x" * 400, more=True))
        server.feed(body(b"end"))
        await settle()
        # 400 + 400 < 1000 <= 1200: the pump took three messages, then waited for the app.
        assert server.inbox.qsize() == 8
        release.set()
        await task
        assert taken == [b"x" * 400] * 10 + [b"end"]

    asyncio.run(run())


def test_expect_100_continue_defers_reading_until_the_app_asks() -> None:
    async def run() -> None:
        server = FakeServer()
        go = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await go.wait()
            await receive()

        headers = [(b"content-length", b"5"), (b"expect", b"100-continue")]
        task = asyncio.ensure_future(AbortOnDisconnect(app)(scope(headers=headers), server.receive, server.send))
        await settle()
        assert server.receive_calls == 0  # uvicorn would have sent "100 Continue"
        server.feed(body(b"hello"))
        go.set()
        await task
        assert server.receive_calls >= 1

    asyncio.run(run())


def test_the_pump_ends_with_the_app() -> None:
    async def run() -> None:
        server = FakeServer()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            await send(START)
            await send({"type": "http.response.body", "body": b""})

        before = len(asyncio.all_tasks())
        await serve(app, server)
        await settle()
        assert len(asyncio.all_tasks()) == before  # nothing of the request is left running

    asyncio.run(run())
