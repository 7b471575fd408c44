"""The shared timer (``abortkit._timer``): deadline order and never early, cancellation and
``pending_timers()``, one scheduler thread, compaction; nothing a listener does (raise any
exception, take its time) stops or delays the other timeouts; it survives ``os.fork()``."""

from __future__ import annotations

import logging
import os
import signal as signals
import threading
import time
from typing import Any

import pytest

from abortkit import AbortSignal, _timer
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


WAIT = 5.0  # hang catch only

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX only")
# 3.12+ warns that forking a multi-threaded process may deadlock the child: that is the point.
forks_threads = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


@pytest.mark.parametrize("exception", [SystemExit, KeyboardInterrupt, GeneratorExit, RuntimeError])
def test_no_exception_from_a_timeout_listener_stops_the_other_timeouts(
    exception: type[BaseException], caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> None:
        raise exception("from a listener")

    with caplog.at_level(logging.ERROR, logger="abortkit"):
        AbortSignal.timeout(0).add_listener(explode)
        later = threading.Event()
        keep = AbortSignal.timeout(0.05)
        keep.add_listener(later.set)
        assert later.wait(WAIT), f"a {exception.__name__} in a timer listener stopped the timer"
    reported = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], exception)]
    assert reported, f"the {exception.__name__} was not reported on the abortkit logger"


def test_a_slow_timeout_listener_does_not_delay_the_other_timeouts() -> None:
    # Deterministic: the slow listener waits for the other timeout's listener. If the other
    # timeout had to wait for the slow listener to finish, the wait would time out.
    other_fired = threading.Event()
    slow_saw_the_other: list[bool] = []
    slow_done = threading.Event()

    def slow() -> None:
        slow_saw_the_other.append(other_fired.wait(WAIT))
        slow_done.set()

    first = AbortSignal.timeout(0.01)
    first.add_listener(slow)
    second = AbortSignal.timeout(0.05)
    second.add_listener(other_fired.set)
    assert slow_done.wait(2 * WAIT)
    assert slow_saw_the_other == [True], "the second timeout waited for the first one's slow listener"


def test_many_slow_listeners_at_once_do_not_hold_up_a_short_timeout() -> None:
    release = threading.Event()
    for _ in range(8):
        AbortSignal.timeout(0).add_listener(lambda: release.wait(WAIT))
    fired = threading.Event()
    short = AbortSignal.timeout(0.05)
    short.add_listener(fired.set)
    try:
        assert fired.wait(WAIT)
    finally:
        release.set()


def test_timeout_zero_is_never_aborted_when_it_returns() -> None:
    # Deterministic: the creating thread is paused (the GIL released, for longer than the
    # timer's resolution) at every line of timeout() and of the timer's schedule(), and the
    # signal is inspected at the very moment timeout() returns. Before the fix the timer was
    # armed before timeout() had finished, and fired during the pause after it.
    import sys

    timeout_code = AbortSignal.timeout.__func__.__code__
    codes = {timeout_code, _timer.schedule.__code__}
    aborted_at_return: list[bool] = []

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line":
            time.sleep(0.003)
        elif event == "return" and frame.f_code is timeout_code:
            aborted_at_return.append(arg.aborted)
        return local

    def trace(frame: Any, event: str, arg: Any) -> Any:
        return local if frame.f_code in codes else None

    for _ in range(20):
        sys.settrace(trace)
        try:
            AbortSignal.timeout(0)
        finally:
            sys.settrace(None)
    assert aborted_at_return == [False] * 20


def _run_in_child(child: object) -> int:
    """Fork; run ``child()`` in the child (exit 0 if it returns True, 1 otherwise); wait for it
    (killing it after WAIT seconds: a deadlock); return its exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if child() else 1  # type: ignore[operator]
        finally:
            os._exit(code)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signals.SIGKILL)
    os.waitpid(pid, 0)
    return -1  # hung


@needs_fork
@forks_threads
def test_a_timeout_inherited_through_fork_fires_in_the_child() -> None:
    inherited = AbortSignal.timeout(0.2)
    fired = threading.Event()
    inherited.add_listener(fired.set)

    def child() -> bool:
        return fired.wait(WAIT) and inherited.aborted

    assert _run_in_child(child) == 0
    assert fired.wait(WAIT)  # and in the parent, as usual


@needs_fork
@forks_threads
def test_a_child_forked_while_another_thread_creates_timeouts_can_use_timeouts() -> None:
    stop = threading.Event()

    def create_timeouts() -> None:
        while not stop.is_set():
            for _ in range(50):
                AbortSignal.timeout(3600)
            AbortSignal.timeout(0).add_listener(lambda: None)

    def child() -> bool:
        fired = threading.Event()
        AbortSignal.timeout(0.01).add_listener(fired.set)
        return fired.wait(WAIT)

    worker = threading.Thread(target=create_timeouts, daemon=True)
    worker.start()
    try:
        statuses = [_run_in_child(child) for _ in range(60)]
    finally:
        stop.set()
        worker.join(WAIT)
    assert statuses == [0] * len(statuses), f"{statuses.count(-1)} children hung, {statuses.count(1)} failed"
