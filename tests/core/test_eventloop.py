"""The event-loop backend (``abortkit/_eventloop.py``): which loop, batched call_soon, race, sleep, lifetime."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from typing import Any

import pytest

from abortkit import AbortController, AbortError, close_on_abort
from abortkit._errors import AbortUnwind
from abortkit._eventloop import current_loop, running_loop


class Closable:
    def __init__(self) -> None:
        self.closes = 0

    async def aclose(self) -> None:
        self.closes += 1


def test_an_event_loop_that_has_ended_is_not_kept_alive() -> None:
    """A loop abortkit has worked on (close_on_abort, an abort scheduled onto it) is freed
    once it has ended: a server that runs ``asyncio.run`` per request must not leak loops."""
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        controller = AbortController()
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, Closable()):
                await asyncio.get_running_loop().run_in_executor(None, controller.abort)
                await asyncio.sleep(0.01)

    for _ in range(3):
        asyncio.run(main())
    gc.collect()
    alive = [ref for ref in loops if ref() is not None]
    assert alive == [], f"{len(alive)} of {len(loops)} ended event loops are still alive"


def test_one_event_loop_per_running_loop_and_none_outside() -> None:
    assert running_loop() is None
    with pytest.raises(RuntimeError, match="needs a running asyncio or trio event loop"):
        current_loop()

    async def main() -> Any:
        first, second = current_loop(), running_loop()
        assert first is second and first.name == "asyncio" and first.can_race
        return first

    assert asyncio.run(main()) is not asyncio.run(main())


def test_call_soon_from_other_threads_runs_every_callback_on_the_loop_in_one_batch() -> None:
    ran: list[tuple[int, int]] = []
    wakeups: list[object] = []

    async def main() -> None:
        loop = current_loop()
        asyncio_loop = asyncio.get_running_loop()
        threadsafe = asyncio_loop.call_soon_threadsafe

        def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
            wakeups.append(callback)  # one self-pipe write each: what batching saves
            return threadsafe(callback, *args, **kwargs)

        asyncio_loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        loop_thread = threading.get_ident()

        def from_thread() -> None:
            for index in range(100):
                assert loop.call_soon(lambda index=index: ran.append((index, threading.get_ident())))

        threads = [threading.Thread(target=from_thread) for _ in range(2)]
        # The loop is held (no await) while both threads queue: their 200 callbacks land
        # in one batch, drained by one scheduled call.
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        await asyncio.sleep(0.05)
        assert {ident for _, ident in ran} == {loop_thread}

    asyncio.run(main())
    assert len(ran) == 200
    assert len(wakeups) == 1, f"expected one wake-up of the loop for 200 callbacks, got {len(wakeups)}"


def test_call_soon_on_a_closed_loop_says_so_and_keeps_nothing() -> None:
    holder: list[Any] = []

    async def main() -> None:
        holder.append(current_loop())

    asyncio.run(main())
    (loop,) = holder
    assert loop.call_soon(lambda: None) is False
    assert not loop._pending and not loop._armed


def test_a_callback_that_raises_is_logged_and_the_batch_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[int] = []

    async def main() -> None:
        loop = current_loop()

        def boom() -> None:
            raise ValueError("boom")

        loop.call_soon(boom)
        loop.call_soon(lambda: ran.append(1))
        await asyncio.sleep(0.01)

    with caplog.at_level("ERROR", logger="abortkit"):
        asyncio.run(main())
    assert ran == [1]
    assert any("boom" in (record.exc_text or "") or record.exc_info for record in caplog.records)


def test_race_stops_the_awaitable_at_the_abort_and_unwinds() -> None:
    controller = AbortController()
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> float:
        threading.Timer(0.05, controller.abort, ("esc",)).start()
        started = time.monotonic()
        with pytest.raises(AbortUnwind) as caught:
            await current_loop().race((controller.signal,), forever())
        assert caught.value.reason == "esc"
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0  # a hang would take the 30 s sleep
    assert cancelled == [True]
    assert controller.signal.listener_count == 0


def test_race_passes_the_result_and_a_foreign_cancel_through() -> None:
    controller = AbortController()

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    async def main() -> None:
        loop = current_loop()
        assert await loop.race((controller.signal,), answer()) == 42
        task = asyncio.ensure_future(loop.race((controller.signal,), asyncio.sleep(30)))
        await asyncio.sleep(0.01)
        task.cancel()  # the caller's own cancellation: not an abort
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert controller.signal.listener_count == 0


def test_sleep_ends_at_its_time_or_at_the_abort() -> None:
    async def main() -> None:
        loop = current_loop()
        idle = AbortController()
        started = time.monotonic()
        await loop.sleep((idle.signal,), 0.05)
        assert time.monotonic() - started >= 0.045
        controller = AbortController()
        threading.Timer(0.05, controller.abort).start()
        started = time.monotonic()
        with pytest.raises(AbortUnwind):
            await loop.sleep((controller.signal,), 30)
        assert time.monotonic() - started < 1.0

    asyncio.run(main())


# -- trio ------------------------------------------------------------------------------------


def test_under_trio_an_abort_from_another_thread_closes_on_the_trio_loop() -> None:
    trio = pytest.importorskip("trio")
    closed_on: list[int] = []

    class WaitsForClose:
        def __init__(self) -> None:
            self.closed = trio.Event()

        async def read(self) -> None:
            await self.closed.wait()
            raise ConnectionError("closed")

        async def aclose(self) -> None:
            closed_on.append(threading.get_ident())
            self.closed.set()

    async def main() -> tuple[Any, int]:
        loop = current_loop()
        assert loop.name == "trio" and not loop.can_race
        controller = AbortController()
        response = WaitsForClose()
        threading.Timer(0.05, controller.abort, ("esc",)).start()
        with pytest.raises(AbortError) as caught:
            async with close_on_abort(controller.signal, response) as same:
                with trio.fail_after(3):
                    await same.read()
        assert isinstance(caught.value.__cause__, ConnectionError)
        return caught.value.reason, threading.get_ident()

    reason, trio_thread = trio.run(main)
    assert reason == "esc"
    assert closed_on == [trio_thread]


def test_under_trio_race_and_sleep_run_the_awaitable_to_its_end() -> None:
    trio = pytest.importorskip("trio")

    async def answer() -> int:
        await trio.sleep(0)
        return 7

    async def main() -> None:
        loop = current_loop()
        controller = AbortController()
        assert await loop.race((controller.signal,), answer()) == 7
        controller.abort()
        started = time.monotonic()
        await loop.sleep((controller.signal,), 0.02)  # trio cannot race it: the sleep is served in full
        assert time.monotonic() - started >= 0.015

    trio.run(main)


def test_a_trio_run_that_has_ended_is_not_kept_alive() -> None:
    trio = pytest.importorskip("trio")
    tokens: list[weakref.ref[Any]] = []
    holder: list[Any] = []

    async def main() -> None:
        tokens.append(weakref.ref(trio.lowlevel.current_trio_token()))
        async with close_on_abort(AbortController().signal, Closable()):
            pass
        holder.append(current_loop())

    for _ in range(2):
        trio.run(main)
    gc.collect()
    assert [ref for ref in tokens if ref() is not None] == []
    assert holder[0].call_soon(lambda: None) is False  # the run is over: nothing to schedule onto


def test_under_trio_exit_waits_for_the_close_the_abort_started() -> None:
    """With no socket to shut down, the abort closes the object in a task of the loop; exit
    must wait for that close: once ``async with`` is left, nothing of ours is running."""
    trio = pytest.importorskip("trio")
    events: list[str] = []

    class SlowToClose:
        def __init__(self) -> None:
            self.closing = trio.Event()

        async def read(self) -> None:
            await self.closing.wait()
            raise ConnectionError("closed")

        async def aclose(self) -> None:
            self.closing.set()
            await trio.sleep(0.05)
            events.append("closed")

    async def main() -> None:
        controller = AbortController()
        threading.Timer(0.02, controller.abort).start()
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, SlowToClose()) as same:
                with trio.fail_after(3):
                    await same.read()
        events.append("exited")

    trio.run(main)
    assert events == ["closed", "exited"]


def test_under_trio_a_close_that_fails_is_logged_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    trio = pytest.importorskip("trio")

    class FailsToClose:
        def __init__(self) -> None:
            self.closing = trio.Event()

        async def read(self) -> None:
            await self.closing.wait()
            raise ConnectionError("closed")

        async def aclose(self) -> None:
            self.closing.set()
            raise OSError("close failed")

    async def main() -> str:
        controller = AbortController()
        threading.Timer(0.02, controller.abort).start()
        with pytest.raises(AbortError):
            async with close_on_abort(controller.signal, FailsToClose()) as same:
                with trio.fail_after(3):
                    await same.read()
        await trio.sleep(0.01)
        return "the run went on"

    with caplog.at_level("DEBUG", logger="abortkit"):
        assert trio.run(main) == "the run went on"
    assert any("close failed" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)
