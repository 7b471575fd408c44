"""close_on_abort logic on in-memory closables (the real-socket proofs are in tests/io)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from abortkit import AbortController, AbortError, close_on_abort, current_signals


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
