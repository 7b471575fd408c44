"""The shared timer thread (``abortkit._timer``): deadline order and never early, cancellation
and ``pending_timers()``, one daemon thread, compaction, a raising callback logged, and the
timer loop itself (``_run``) exercised on a second thread."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from abortkit import _timer
from abortkit._timer import call_later, pending_timers
from tests._helpers.waiting import wait_for


@pytest.mark.found_by_mutation
def test_timers_fire_in_deadline_order_and_not_before_their_deadline() -> None:
    fired: list[tuple[str, float]] = []
    start = time.monotonic()
    call_later(0.25, lambda: fired.append(("late", time.monotonic() - start)))
    call_later(0.05, lambda: fired.append(("early", time.monotonic() - start)))
    assert wait_for(lambda: len(fired) == 2)
    assert [name for name, _ in fired] == ["early", "late"]
    assert fired[0][1] >= 0.05
    assert fired[1][1] >= 0.25


@pytest.mark.found_by_mutation
def test_cancel_prevents_the_call_and_pending_timers_counts_live_entries() -> None:
    before = pending_timers()
    fired: list[int] = []
    handles = [call_later(0.05, lambda: fired.append(1)) for _ in range(3)]
    assert pending_timers() == before + 3
    handles[0].cancel()
    handles[0].cancel()  # idempotent
    assert pending_timers() == before + 2
    assert wait_for(lambda: len(fired) == 2)
    time.sleep(0.05)
    assert fired == [1, 1]
    assert pending_timers() == before


@pytest.mark.found_by_mutation
def test_one_daemon_timer_thread_named_abortkit_timers() -> None:
    call_later(0.0, lambda: None)
    call_later(0.0, lambda: None)
    threads = [t for t in threading.enumerate() if t.name == "abortkit-timers"]
    assert len(threads) == 1
    assert threads[0].daemon
    assert threads[0] is _timer._thread


@pytest.mark.found_by_mutation
def test_compaction_keeps_live_timers_and_drops_cancelled_ones() -> None:
    fired = threading.Event()
    live = call_later(0.2, fired.set)
    dead = [call_later(30.0, lambda: None) for _ in range(200)]
    for handle in dead:
        handle.cancel()
    call_later(0.0, lambda: None)  # compacts: dead entries outnumber the live ones
    with _timer._lock:
        size = len(_timer._heap)
    assert size < 100, f"cancelled entries were not compacted away: {size}"
    assert live.callback is not None
    assert fired.wait(2.0), "compaction dropped a live timer"


@pytest.mark.found_by_mutation
def test_a_raising_timer_callback_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    _check_a_raising_timer_callback_is_logged(caplog)


def _check_a_raising_timer_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    after = threading.Event()
    with caplog.at_level(logging.ERROR, logger="abortkit"):
        call_later(0.0, broken)
        call_later(0.01, after.set)
        assert after.wait(2.0), "the timer thread died with the callback"
    (record,) = [r for r in caplog.records if "timer callback" in r.getMessage()]
    assert record.name == "abortkit"
    assert record.getMessage() == f"timer callback {broken!r} raised"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


class _StopTimerLoop(BaseException):
    """Ends a timer loop started by a test (a BaseException passes the loop's ``except``)."""


def _second_timer_loop() -> None:
    try:
        _timer._run()
    except _StopTimerLoop:
        pass


@pytest.mark.found_by_mutation
def test_the_timer_loop_orders_waits_and_logs() -> None:
    """Runs a second timer loop for the duration of the test, so that the loop itself
    (``_timer._run``, which the shared thread enters only once per process) is exercised
    by this test: both loops serve the same heap, as two threads may."""
    extra = threading.Thread(target=_second_timer_loop, name="test-timer-loop", daemon=True)
    extra.start()
    try:
        test_timers_fire_in_deadline_order_and_not_before_their_deadline()
        fired = threading.Event()
        started = time.monotonic()
        call_later(0.4, fired.set)
        assert fired.wait(3.0)
        assert time.monotonic() - started >= 0.4, "a timer fired early"
    finally:

        def stop() -> None:
            if threading.current_thread() is extra:
                raise _StopTimerLoop
            call_later(0.001, stop)  # the shared loop took it: try again

        call_later(0.0, stop)
        extra.join(5.0)
    assert not extra.is_alive()


@pytest.mark.found_by_mutation
def test_the_timer_loop_logs_a_raising_callback(caplog: pytest.LogCaptureFixture) -> None:
    extra = threading.Thread(target=_second_timer_loop, name="test-timer-loop", daemon=True)
    extra.start()
    try:
        with caplog.at_level(logging.ERROR, logger="abortkit"):
            for _ in range(4):  # both loops get some
                _check_a_raising_timer_callback_is_logged(caplog)
                caplog.clear()
    finally:

        def stop() -> None:
            if threading.current_thread() is extra:
                raise _StopTimerLoop
            call_later(0.001, stop)

        call_later(0.0, stop)
        extra.join(5.0)
    assert not extra.is_alive()
