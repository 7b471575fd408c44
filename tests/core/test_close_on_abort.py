"""close_on_abort logic on in-memory closables (the real-socket proofs are in tests/io)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from abortkit import AbortController, AbortError, close_on_abort, current_signals
from tests._helpers.http_responses import _peer_saw_shutdown, _response
from tests._helpers.signals import _aborted


class BlockingStream:
    """Blocks between items until close() wakes it, like a socket read in a gap."""

    def __init__(self, items: int = 3, gap: float = 5.0) -> None:
        self.items, self.gap = items, gap
        self.closes: list[int] = []
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        for index in range(self.items):
            if index and self._closed.wait(self.gap):
                raise ConnectionError("stream closed")
            yield index

    def close(self) -> None:
        self.closes.append(threading.get_ident())
        self._closed.set()


def abort_later(controller: AbortController, delay: float) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), controller.abort("esc")))
    thread.start()
    return thread


def test_abort_from_another_thread_wakes_the_consumer_and_raises_abort_error() -> None:
    controller = AbortController()
    stream = BlockingStream()
    seen: list[int] = []
    thread = abort_later(controller, 0.05)
    started = time.monotonic()
    with pytest.raises(AbortError) as info, close_on_abort(controller.signal, stream) as same:
        assert same is stream
        for item in same:
            seen.append(item)
    thread.join()
    assert time.monotonic() - started < 2.0  # a hang would take the 5 s gap
    assert seen == [0]
    assert info.value.reason == "esc"
    assert isinstance(info.value.__cause__, ConnectionError)
    assert stream.closes == [thread.ident]  # closed once, from the aborting thread
    assert controller.signal.listener_count == 0


def test_without_abort_nothing_is_closed_and_nothing_is_left() -> None:
    controller = AbortController()
    stream = BlockingStream(gap=0.0)
    with close_on_abort(controller.signal, stream) as same:
        assert list(same) == [0, 1, 2]
        assert current_signals() == (controller.signal,)
    assert current_signals() == ()
    assert stream.closes == []
    assert controller.signal.listener_count == 0


def test_already_aborted_closes_and_raises_before_the_body() -> None:
    controller = AbortController()
    controller.abort("early")
    stream = BlockingStream()
    ran = []
    with pytest.raises(AbortError), close_on_abort(controller.signal, stream):
        ran.append(True)
    assert ran == []
    assert len(stream.closes) == 1
    assert controller.signal.listener_count == 0
    assert current_signals() == ()


def test_block_ending_normally_after_an_interrupting_abort_raises() -> None:
    # A block that swallowed the truncation still must not look complete.
    controller = AbortController()
    stream = BlockingStream()
    guard = close_on_abort(controller.signal, stream)
    with pytest.raises(AbortError), guard:
        controller.abort("esc")
    assert guard.interrupted


def test_none_signal_is_a_no_op() -> None:
    stream = BlockingStream(gap=0)
    with close_on_abort(None, stream) as same:
        assert list(same) == [0, 1, 2]
    assert stream.closes == []


def test_other_exceptions_pass_unchanged_and_base_exceptions_always_pass() -> None:
    controller = AbortController()
    with pytest.raises(ValueError), close_on_abort(controller.signal, BlockingStream()):
        raise ValueError("not an abort")
    controller.abort()
    with pytest.raises(KeyboardInterrupt), close_on_abort(AbortController().signal, BlockingStream()):
        raise KeyboardInterrupt
    aborted = AbortController()
    stream = BlockingStream()
    with pytest.raises(SystemExit), close_on_abort(aborted.signal, stream):
        aborted.abort()
        raise SystemExit(3)


def test_exit_waits_for_a_listener_running_on_another_thread() -> None:
    controller = AbortController()
    entered, release = threading.Event(), threading.Event()
    finished: list[float] = []

    class SlowClose:
        def close(self) -> None:
            entered.set()
            release.wait(5)
            finished.append(time.monotonic())

    exited: list[float] = []

    def consumer() -> None:
        try:
            with close_on_abort(controller.signal, SlowClose()):
                entered.wait(5)
        except AbortError:
            pass
        exited.append(time.monotonic())

    thread = threading.Thread(target=consumer)
    thread.start()
    aborter = abort_later(controller, 0.01)
    assert entered.wait(5)
    thread.join(0.2)
    assert thread.is_alive(), "exit returned while the close was still running"
    release.set()
    thread.join(5)
    aborter.join(5)
    assert exited[0] >= finished[0]


def test_abort_after_exit_never_runs_the_listener() -> None:
    controller = AbortController()
    stream = BlockingStream(gap=0)
    with close_on_abort(controller.signal, stream):
        pass
    controller.abort()
    assert stream.closes == []


@pytest.mark.parametrize("bad", [object(), 42, "response"])
def test_unclosable_objects_are_a_type_error_naming_the_type(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__qualname__):
        close_on_abort(AbortController().signal, bad)


def test_none_response_and_bad_signal_are_type_errors() -> None:
    with pytest.raises(TypeError, match="None"):
        close_on_abort(AbortController().signal, None)
    with pytest.raises(TypeError, match="AbortSignal"):
        close_on_abort("signal", BlockingStream())  # type: ignore[arg-type]


def test_single_use() -> None:
    guard = close_on_abort(AbortController().signal, BlockingStream())
    with guard:
        pass
    with pytest.raises(RuntimeError, match="single use"), guard:
        pass


class AsyncBlockingStream:
    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.close_threads: list[int] = []

    async def read(self) -> bytes:
        await asyncio.wait_for(self.closed.wait(), 5)
        raise ConnectionError("closed")

    async def aclose(self) -> None:
        self.close_threads.append(threading.get_ident())
        self.closed.set()


def test_async_abort_from_another_thread_closes_on_the_loop() -> None:
    async def main() -> tuple[AsyncBlockingStream, int, AbortController]:
        controller = AbortController()
        stream = AsyncBlockingStream()
        thread = abort_later(controller, 0.05)
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, stream) as same:
                await same.read()
        thread.join()
        return stream, threading.get_ident(), controller

    stream, loop_thread, controller = asyncio.run(main())
    assert stream.close_threads == [loop_thread]
    assert controller.signal.listener_count == 0


def test_async_requires_async_with_for_async_closers() -> None:
    with pytest.raises(TypeError, match="async with"), close_on_abort(AbortController().signal, AsyncBlockingStream()):
        pass


def test_async_cancelled_consumer_closes_the_stream() -> None:
    async def main() -> AsyncBlockingStream:
        stream = AsyncBlockingStream()

        async def consume() -> None:
            async with close_on_abort(AbortController().signal, stream):
                await asyncio.sleep(10)

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return stream

    assert len(asyncio.run(main()).close_threads) == 1


def test_its_life_is_one_state_moving_only_along_the_allowed_transitions() -> None:
    from abortkit._close import _NEXT, _State

    controller = AbortController()
    guard = close_on_abort(controller.signal, BlockingStream(gap=0))
    assert guard._state is _State.NEW and not guard.interrupted
    with guard:
        assert guard._state is _State.WATCHING
    assert guard._state is _State.LEFT and not guard.interrupted
    with pytest.raises(RuntimeError, match="cannot go from 'left' to 'interrupted'"):
        guard._move(_State.INTERRUPTED)
    interrupted = close_on_abort(controller.signal, BlockingStream())
    with pytest.raises(AbortError), interrupted:
        controller.abort("esc")
        assert interrupted._state is _State.INTERRUPTED
    assert interrupted._state is _State.LEFT_INTERRUPTED and interrupted.interrupted
    # Every state is reachable only from NEW, and the two final states lead nowhere.
    assert _NEXT[_State.LEFT] == _NEXT[_State.LEFT_INTERRUPTED] == frozenset()
    reachable = {_State.NEW}
    while True:
        more = reachable | {to for state in reachable for to in _NEXT[state]}
        if more == reachable:
            break
        reachable = more
    assert reachable == set(_State)


def test_an_abort_after_the_response_was_closed_by_someone_else_interrupts_nothing() -> None:
    """The "already closed" fact has one owner: a close by anyone (here the consumer,
    inside the block) is seen by the abort, which then cuts nothing short."""
    import httpx2

    controller = AbortController()
    response = httpx2.Response(200, stream=httpx2.ByteStream(b"data"))
    guard = close_on_abort(controller.signal, response)
    with guard as same:
        assert same.read() == b"data"
        same.close()
        controller.abort("late")
    assert not guard.interrupted


# -- found by mutation testing (docs/mutation-testing.md) ------------------------------------------


class WaitsForClose:
    """An async response whose read returns only when it is closed."""

    def __init__(self) -> None:
        self.closed: asyncio.Event | None = None
        self.close_calls = 0

    async def read(self) -> bytes:
        self.closed = asyncio.Event()
        await self.closed.wait()
        raise ConnectionError("closed")

    async def aclose(self) -> None:
        self.close_calls += 1
        if self.closed is not None:
            self.closed.set()


@pytest.mark.found_by_mutation
def test_async_abort_from_another_thread_closes_at_once_on_the_loop() -> None:
    from abortkit import close_on_abort

    async def main() -> float:
        controller = AbortController()
        response = WaitsForClose()
        timer = threading.Timer(0.05, controller.abort, ("esc",))
        started = time.monotonic()
        timer.start()
        with pytest.raises(AbortError) as caught:
            async with close_on_abort(controller.signal, response) as same:
                await asyncio.wait_for(same.read(), 3.0)
        assert caught.value.reason == "esc"
        assert isinstance(caught.value.__cause__, ConnectionError), "the read was not woken by the close"
        assert response.close_calls == 1
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0


@pytest.mark.found_by_mutation
def test_a_close_scheduled_after_exit_does_nothing() -> None:
    from abortkit import close_on_abort

    async def main() -> None:
        response = WaitsForClose()
        guard = close_on_abort(AbortController().signal, response)
        async with guard:
            pass
        guard._interrupt_on_loop()  # the abort's scheduled interruption, arriving after exit
        await asyncio.sleep(0)
        assert guard._guard._closing is None
        assert response.close_calls == 0

    asyncio.run(main())


@pytest.mark.found_by_mutation
def test_async_close_on_abort_without_abort_closes_nothing() -> None:
    from abortkit import close_on_abort

    response = WaitsForClose()

    async def main() -> None:
        async with close_on_abort(AbortController().signal, response):
            pass

    asyncio.run(main())
    assert response.close_calls == 0


@pytest.mark.found_by_mutation
def test_async_close_on_abort_already_aborted_closes_and_raises_before_the_body() -> None:
    from abortkit import close_on_abort

    response = WaitsForClose()
    ran: list[bool] = []

    async def main() -> None:
        async with close_on_abort(_aborted("early"), response):
            ran.append(True)

    with pytest.raises(AbortError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "early"
    assert ran == [] and response.close_calls == 1


@pytest.mark.found_by_mutation
def test_async_close_on_abort_closes_an_object_with_a_sync_close() -> None:
    from abortkit import close_on_abort

    class SyncClosable:
        def __init__(self) -> None:
            self.closes = 0

        def close(self) -> None:
            self.closes += 1

    response = SyncClosable()

    async def main() -> None:
        controller = AbortController()
        threading.Timer(0.02, controller.abort, ("esc",)).start()
        async with close_on_abort(controller.signal, response):
            await asyncio.sleep(0.2)

    with pytest.raises(AbortError):
        asyncio.run(main())
    assert response.closes >= 1


@pytest.mark.found_by_mutation
def test_an_error_in_an_aborted_async_block_is_chained_and_a_failing_close_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from abortkit import close_on_abort

    class FailingClose:
        async def aclose(self) -> None:
            raise OSError("aclose failed")

    response = FailingClose()
    failure = ConnectionError("read failed")

    async def main() -> None:
        controller = AbortController()
        async with close_on_abort(controller.signal, response):
            controller.abort("esc")
            await asyncio.sleep(0.01)
            raise failure

    with caplog.at_level(logging.DEBUG, logger="abortkit"), pytest.raises(AbortError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "esc" and caught.value.__cause__ is failure
    (record,) = [r for r in caplog.records if r.getMessage() == f"closing {response!r} after an abort failed"]
    assert record.name == "abortkit" and record.exc_info and isinstance(record.exc_info[1], OSError)


@pytest.mark.found_by_mutation
def test_a_failing_sync_close_at_exit_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")

    class SDKStream:
        def __init__(self) -> None:
            self.response = response

        def close(self) -> None:
            raise OSError("close failed")

    stream = SDKStream()
    controller = AbortController()
    with caplog.at_level(logging.DEBUG, logger="abortkit"), pytest.raises(AbortError) as caught:  # noqa: SIM117
        with close_on_abort(controller.signal, stream):
            controller.abort("esc")
            assert _peer_saw_shutdown(peer)
    assert caught.value.reason == "esc"
    (record,) = [r for r in caplog.records if r.getMessage() == f"closing {stream!r} after an abort failed"]
    assert record.name == "abortkit" and record.exc_info and isinstance(record.exc_info[1], OSError)


@pytest.mark.found_by_mutation
def test_an_already_aborted_block_never_runs_even_on_a_released_response() -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")
    response.read()
    response.close()
    ran: list[bool] = []
    with pytest.raises(AbortError) as caught, close_on_abort(_aborted("early"), response):
        ran.append(True)
    assert caught.value.reason == "early" and ran == []
    assert not _peer_saw_shutdown(peer)

    async_response, _async_body, _ = _response("httpx2", asynchronous=True)

    async def main() -> None:
        await async_response.aread()
        await async_response.aclose()
        async with close_on_abort(_aborted("early"), async_response):
            ran.append(True)

    with pytest.raises(AbortError):
        asyncio.run(main())
    assert ran == []


class SlowAclose:
    """An async closable whose aclose() lets the loop run, counting calls."""

    def __init__(self) -> None:
        self.close_calls = 0

    async def aclose(self) -> None:
        self.close_calls += 1
        await asyncio.sleep(0.01)


@pytest.mark.found_by_mutation
def test_an_async_abort_queued_before_exit_closes_once_and_nothing_runs_after_exit() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> Any:
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard:
                controller.abort("esc")  # queued on this loop; the block ends before it runs
        await asyncio.sleep(0.05)
        guard._interrupt_on_loop()  # a late interruption: must do nothing now
        await asyncio.sleep(0.02)
        return guard

    guard = asyncio.run(main())
    assert response.close_calls == 1
    assert guard.interrupted
    assert controller.signal.listener_count == 0


@pytest.mark.found_by_mutation
def test_an_async_abort_interrupts_once_however_often_it_is_scheduled() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> None:
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard:
                controller.abort("esc")
                await asyncio.sleep(0.005)
                guard._interrupt_on_loop()  # scheduled twice: one close only
                await asyncio.sleep(0.03)

    asyncio.run(main())
    assert response.close_calls == 1


@pytest.mark.found_by_mutation
def test_after_an_async_block_the_listener_is_gone() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> None:
        async with close_on_abort(controller.signal, response):
            assert controller.signal.listener_count == 1
        assert controller.signal.listener_count == 0
        controller.abort("late")
        await asyncio.sleep(0.02)

    asyncio.run(main())
    assert response.close_calls == 0


@pytest.mark.found_by_mutation
def test_close_on_abort_single_use_message() -> None:
    from abortkit import close_on_abort

    class Closable:
        def close(self) -> None:
            pass

    guard = close_on_abort(AbortController().signal, Closable())
    with guard:
        pass
    with pytest.raises(RuntimeError) as caught, guard:
        pass
    assert str(caught.value) == "close_on_abort is single use: create one per response"


@pytest.mark.found_by_mutation
def test_interrupted_is_a_bool_false_until_an_abort_interrupts() -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")
    try:
        guard = close_on_abort(AbortController().signal, response)
        assert guard.interrupted is False
        with guard:
            assert guard.interrupted is False
        assert guard.interrupted is False
    finally:
        peer.close()
