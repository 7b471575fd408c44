"""abortable_iter: items before the abort delivered, none after, AbortError, source closed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from abortkit import AbortController, AbortError, abortable_iter


class Source:
    """An iterable that records close() and can trip a controller at a given item."""

    def __init__(self, items: list[int], trip_at: int | None = None, controller: AbortController | None = None):
        self.items = items
        self.trip_at = trip_at
        self.controller = controller
        self.closed = 0

    def __iter__(self) -> Iterator[int]:
        for index, item in enumerate(self.items):
            if index == self.trip_at and self.controller is not None:
                self.controller.abort("esc")
            yield item

    def close(self) -> None:
        self.closed += 1


def test_plain_iteration_without_abort_is_complete_and_does_not_close() -> None:
    controller = AbortController()
    source = Source([1, 2, 3])
    assert list(abortable_iter(source, controller.signal)) == [1, 2, 3]
    assert source.closed == 0


def test_items_before_the_abort_are_delivered_none_after() -> None:
    controller = AbortController()
    source = Source([1, 2, 3, 4], trip_at=2, controller=controller)
    seen: list[int] = []
    with pytest.raises(AbortError) as info:
        for item in abortable_iter(source, controller.signal):
            seen.append(item)
    # item 3 was produced after the abort tripped: it must not be handed over
    assert seen == [1, 2]
    assert info.value.reason == "esc"
    assert source.closed == 1


def test_abort_tripped_by_the_consumer_stops_before_the_next_item() -> None:
    controller = AbortController()
    seen: list[int] = []
    with pytest.raises(AbortError):
        for item in abortable_iter(Source([1, 2, 3]), controller.signal):
            seen.append(item)
            controller.abort()
    assert seen == [1]


def test_source_ending_after_the_abort_raises_rather_than_looking_complete() -> None:
    controller = AbortController()
    source = Source([1, 2], trip_at=1, controller=controller)
    items = abortable_iter(source, controller.signal)
    assert next(items) == 1
    with pytest.raises(AbortError):
        next(items)


def test_already_aborted_yields_nothing() -> None:
    controller = AbortController()
    controller.abort()
    source = Source([1])
    with pytest.raises(AbortError):
        list(abortable_iter(source, controller.signal))
    assert source.closed == 1


def test_error_raised_after_the_abort_becomes_abort_error_chained() -> None:
    controller = AbortController()

    def failing() -> Iterator[int]:
        yield 1
        controller.abort("esc")
        raise ConnectionResetError("socket shut down")

    with pytest.raises(AbortError) as info:
        list(abortable_iter(failing(), controller.signal))
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_error_without_abort_passes_unchanged() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad chunk")

    with pytest.raises(ValueError, match="bad chunk"):
        list(abortable_iter(failing(), AbortController().signal))


def test_consumer_breaking_early_closes_the_source() -> None:
    source = Source([1, 2, 3])
    iterator = abortable_iter(source, AbortController().signal)
    assert next(iterator) == 1
    iterator.close()  # type: ignore[attr-defined]
    assert source.closed == 1


def test_none_signal_is_plain_iteration() -> None:
    assert list(abortable_iter([1, 2], None)) == [1, 2]


@pytest.mark.parametrize("bad", [3, None, object()])
def test_bad_iterable_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="iterable"):
        abortable_iter(bad, AbortController().signal)  # type: ignore[call-overload]


def test_bad_signal_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="AbortSignal"):
        abortable_iter([1], "signal")  # type: ignore[call-overload]


class AsyncSource:
    def __init__(self, items: list[int], controller: AbortController, trip_at: int | None = None) -> None:
        self.items, self.controller, self.trip_at = items, controller, trip_at
        self.closed = 0

    async def __aiter__(self) -> AsyncIterator[int]:
        for index, item in enumerate(self.items):
            if index == self.trip_at:
                self.controller.abort("esc")
            await asyncio.sleep(0)
            yield item

    async def close(self) -> None:  # the SDKs' AsyncStream.close is a coroutine
        self.closed += 1


def test_async_iteration_delivers_before_and_raises_after() -> None:
    async def main() -> tuple[list[int], AsyncSource]:
        controller = AbortController()
        source = AsyncSource([1, 2, 3], controller, trip_at=1)
        seen: list[int] = []
        with pytest.raises(AbortError):
            async for item in abortable_iter(source, controller.signal):
                seen.append(item)
        return seen, source

    seen, source = asyncio.run(main())
    assert seen == [1]
    assert source.closed == 1


def test_async_iteration_completes_without_abort() -> None:
    async def main() -> list[int]:
        controller = AbortController()
        return [item async for item in abortable_iter(AsyncSource([1, 2], controller), controller.signal)]

    assert asyncio.run(main()) == [1, 2]


# -- found by mutation testing (docs/mutation-testing.md) ------------------------------------------


@pytest.mark.found_by_mutation
def test_async_iteration_without_a_signal_is_plain() -> None:
    from abortkit import abortable_iter

    async def source() -> Any:
        yield 1
        yield 2

    async def main() -> list[int]:
        return [item async for item in abortable_iter(source(), None)]

    assert asyncio.run(main()) == [1, 2]


@pytest.mark.found_by_mutation
def test_a_source_without_close_has_its_iterator_closed_on_an_early_stop() -> None:
    from abortkit import abortable_iter

    finished: list[str] = []

    def generator() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finished.append("sync")

    class Source:  # iterable, no close(): the iterator it returns must be closed
        def __iter__(self) -> Any:
            return generator()

    controller = AbortController()
    with pytest.raises(AbortError) as caught:
        for _ in abortable_iter(Source(), controller.signal):
            controller.abort("esc")
    assert caught.value.reason == "esc"
    assert finished == ["sync"]

    async def agenerator() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finished.append("async")

    class AsyncSource:
        def __aiter__(self) -> Any:
            return agenerator()

    async def main() -> None:
        other = AbortController()
        with pytest.raises(AbortError) as caught:
            async for _ in abortable_iter(AsyncSource(), other.signal):
                other.abort("aesc")
        assert caught.value.reason == "aesc"
        assert finished == ["sync", "async"], "the iterator was not closed when the stream stopped"

    asyncio.run(main())
    assert finished == ["sync", "async"]

    class ListSource:  # neither the source nor its iterator has close(): nothing to close, no error
        def __iter__(self) -> Any:
            return iter([1, 2])

    third = AbortController()
    with pytest.raises(AbortError):
        for _ in abortable_iter(ListSource(), third.signal):
            third.abort()


@pytest.mark.found_by_mutation
def test_an_async_consumer_leaving_early_closes_the_source() -> None:
    from abortkit import abortable_iter

    closed: list[bool] = []

    class Source:
        def __init__(self) -> None:
            self.items = iter([1, 2, 3])

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> int:
            try:
                return next(self.items)
            except StopIteration:
                raise StopAsyncIteration from None

        async def aclose(self) -> None:
            closed.append(True)

    async def main() -> None:
        iterator = abortable_iter(Source(), AbortController().signal)
        assert await iterator.__anext__() == 1
        await iterator.aclose()  # the consumer stops before the end

    asyncio.run(main())
    assert closed == [True]


@pytest.mark.found_by_mutation
def test_async_errors_after_the_abort_become_abort_errors_chained() -> None:
    from abortkit import abortable_iter

    controller = AbortController()
    failure = ConnectionError("closed")

    async def source() -> Any:
        yield 1
        controller.abort("esc")
        raise failure

    async def main() -> None:
        with pytest.raises(AbortError) as caught:
            async for _ in abortable_iter(source(), controller.signal):
                pass
        assert caught.value.reason == "esc" and caught.value.__cause__ is failure

    asyncio.run(main())


@pytest.mark.found_by_mutation
def test_a_failing_close_after_an_early_stop_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from abortkit import abortable_iter

    class Source:
        def __iter__(self) -> Any:
            return iter([1, 2])

        def close(self) -> None:
            raise OSError("close failed")

    class AsyncSource:
        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> int:
            return 1

        async def aclose(self) -> None:
            raise OSError("aclose failed")

    source, async_source = Source(), AsyncSource()
    with caplog.at_level(logging.DEBUG, logger="abortkit"):
        controller = AbortController()
        with pytest.raises(AbortError):
            for _ in abortable_iter(source, controller.signal):
                controller.abort()

        async def main() -> None:
            other = AbortController()
            with pytest.raises(AbortError):
                async for _ in abortable_iter(async_source, other.signal):
                    other.abort()

        asyncio.run(main())
    records = [r for r in caplog.records if r.name == "abortkit" and "early stop" in r.getMessage()]
    assert [r.getMessage() for r in records] == [
        f"closing {source!r} after an early stop failed",
        f"closing {async_source!r} after an early stop failed",
    ]
    assert all(r.levelno == logging.DEBUG and r.exc_info and isinstance(r.exc_info[1], OSError) for r in records)
