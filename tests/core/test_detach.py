"""``abortable_iter(..., detach=True)``: a producer nothing can wake is walked away from at once;
the abandoned helper drops what comes later and closes the source when it can."""

from __future__ import annotations

import signal as signals
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from abortkit import AbortController, AbortError, abortable_iter
from tests._helpers.waiting import wait_for

HANG = 2.0  # hang catch only


class BlockedProducer:
    """Yields ``before`` items, then blocks (uninterruptibly, as far as abortkit knows) until
    ``release`` is set, then yields one more. Records whether it was closed."""

    def __init__(self, before: int = 2) -> None:
        self.before = before
        self.release = threading.Event()
        self.closed = threading.Event()
        self.produced = 0

    def __iter__(self) -> Iterator[int]:
        try:
            for index in range(self.before):
                self.produced += 1
                yield index
            self.release.wait()  # blocked: nothing abortkit can shut down or close
            self.produced += 1
            yield self.before
        finally:
            self.closed.set()


def _detached_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "abortkit-detached-iter"]


def test_an_abort_leaves_a_blocked_producer_at_once_and_keeps_what_came_before() -> None:
    producer = BlockedProducer()
    controller = AbortController()
    received: list[int] = []
    threading.Timer(0.1, controller.abort, args=("esc",)).start()
    started = time.monotonic()
    with pytest.raises(AbortError) as caught:
        for item in abortable_iter(producer, controller.signal, detach=True):
            received.append(item)
    assert time.monotonic() - started < HANG
    assert caught.value.reason == "esc"
    assert received == [0, 1]
    assert not producer.closed.is_set()  # still blocked: abandoned, not closed under its feet
    producer.release.set()  # the blocked call returns: the helper drops the item and closes
    assert producer.closed.wait(HANG)
    assert producer.produced == 3 and received == [0, 1]
    assert wait_for(lambda: not _detached_threads())


def test_nothing_after_the_abort_from_a_fast_producer() -> None:
    controller = AbortController()
    received: list[int] = []

    def counter() -> Iterator[int]:
        index = 0
        while True:
            yield index
            index += 1

    with pytest.raises(AbortError):
        for item in abortable_iter(counter(), controller.signal, detach=True, buffer=8):
            received.append(item)
            if item == 100:
                controller.abort()
    assert received == list(range(101))


def test_the_helper_runs_at_most_buffer_items_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for index in range(1_000):
            produced.append(index)
            yield index

    controller = AbortController()
    iterator = abortable_iter(source(), controller.signal, detach=True, buffer=4)
    assert next(iterator) == 0
    time.sleep(0.2)
    assert len(produced) <= 1 + 4 + 1  # the one taken, the buffer, one blocked waiting for room
    controller.abort()
    with pytest.raises(AbortError):
        next(iterator)


def test_a_producer_error_passes_unchanged_and_becomes_abort_error_after_the_abort() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("the producer's own")

    with pytest.raises(ValueError, match="the producer's own"):
        list(abortable_iter(failing(), AbortController().signal, detach=True))
    aborted = AbortController()

    def fails_after_the_abort() -> Iterator[int]:
        yield 1
        aborted.abort("esc")
        raise ValueError("a consequence of the abort")

    with pytest.raises(AbortError) as caught:
        list(abortable_iter(fails_after_the_abort(), aborted.signal, detach=True))
    assert caught.value.reason == "esc"


def test_a_complete_run_ends_quietly_and_leaves_no_thread() -> None:
    assert list(abortable_iter(iter(range(50)), AbortController().signal, detach=True, buffer=3)) == list(range(50))
    assert wait_for(lambda: not _detached_threads())


def test_a_consumer_that_stops_early_gets_the_source_closed_by_the_helper() -> None:
    producer = BlockedProducer(before=5)
    producer.release.set()
    iterator = abortable_iter(producer, AbortController().signal, detach=True, buffer=1)
    assert next(iterator) == 0
    iterator.close()  # type: ignore[attr-defined]  # a break in a for loop
    assert producer.closed.wait(HANG)
    assert producer.produced < 6


def test_an_already_aborted_signal_starts_no_thread_and_closes_the_source() -> None:
    producer = BlockedProducer()
    controller = AbortController()
    controller.abort("early")
    generator = iter(producer)
    with pytest.raises(AbortError):
        list(abortable_iter(generator, controller.signal, detach=True))
    assert not _detached_threads()
    assert producer.produced == 0
    assert generator.gi_frame is None, "the source was not closed"  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGALRM")
def test_an_abort_from_a_signal_handler_on_the_waiting_thread_wakes_it() -> None:
    producer = BlockedProducer(before=0)
    controller = AbortController()
    previous = signals.signal(signals.SIGALRM, lambda signum, frame: controller.abort("alarm"))
    try:
        signals.setitimer(signals.ITIMER_REAL, 0.1)
        started = time.monotonic()
        with pytest.raises(AbortError) as caught:
            list(abortable_iter(producer, controller.signal, detach=True))
        assert time.monotonic() - started < HANG and caught.value.reason == "alarm"
    finally:
        signals.setitimer(signals.ITIMER_REAL, 0)
        signals.signal(signals.SIGALRM, previous)
        producer.release.set()


def test_bad_input() -> None:
    signal = AbortController().signal

    async def agen() -> object:
        yield 1

    with pytest.raises(TypeError, match=r"detach=True\).* sync iterable"):
        abortable_iter(agen(), signal, detach=True)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="detach must be a bool"):
        abortable_iter([], signal, detach=1)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="buffer must be an int"):
        abortable_iter([], signal, detach=True, buffer=2.0)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="buffer must be at least 1"):
        abortable_iter([], signal, detach=True, buffer=0)
