"""IdleWatchdog: the idle timeout and its error, progress (bytes or ``touch()``) postponing it,
the parent's reason, the timer and the context released at exit, late and early checks,
nesting, re-entry, ``async with``."""

from __future__ import annotations

import asyncio
import time

import pytest

from abortkit import AbortController, IdleTimeoutError, IdleWatchdog
from abortkit._timer import pending_timers
from abortkit._watchdog import _watchdogs, report_progress
from tests._helpers.waiting import wait_for


@pytest.mark.found_by_mutation
def test_watchdog_times_out_after_its_idle_timeout_with_an_idle_timeout_error() -> None:
    parent = AbortController()
    started = time.monotonic()
    with IdleWatchdog(0.05, parent=parent.signal) as dog:
        assert wait_for(lambda: dog.signal.aborted)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.05
    reason = dog.signal.reason
    assert isinstance(reason, IdleTimeoutError)
    assert str(reason) == "no bytes received for 0.05 s"
    assert dog.timed_out
    assert not parent.signal.aborted  # the watchdog's own timeout does not abort the caller


@pytest.mark.found_by_mutation
def test_progress_postpones_the_timeout_and_silence_then_trips_it() -> None:
    with IdleWatchdog(0.3) as dog:
        entered = time.monotonic()
        while time.monotonic() - entered < 0.65:  # two timeouts' worth, never silent for long
            report_progress()
            time.sleep(0.02)
        assert not dog.signal.aborted, "progress did not keep the watchdog from tripping"
        silent_from = time.monotonic()
        assert wait_for(lambda: dog.signal.aborted, 3.0)
        assert time.monotonic() - silent_from >= 0.25
    assert dog.timed_out


@pytest.mark.found_by_mutation
def test_touch_postpones_the_timeout() -> None:
    with IdleWatchdog(0.3) as dog:
        entered = time.monotonic()
        while time.monotonic() - entered < 0.65:
            dog.touch()
            time.sleep(0.02)
        assert not dog.signal.aborted


@pytest.mark.found_by_mutation
def test_the_parent_aborts_the_watchdog_signal_with_its_reason() -> None:
    parent = AbortController()
    with IdleWatchdog(60, parent=parent.signal) as dog:
        parent.abort("esc")
        assert dog.signal.aborted
        assert dog.signal.reason == "esc"
        assert not dog.timed_out


@pytest.mark.found_by_mutation
def test_leaving_the_block_cancels_the_timer_and_the_context() -> None:
    before_timers = pending_timers()
    before_context = _watchdogs.get()
    dog = IdleWatchdog(0.05)
    with dog:
        assert _watchdogs.get() == (*before_context, dog)
        assert pending_timers() == before_timers + 1
    assert _watchdogs.get() == before_context
    assert pending_timers() == before_timers
    time.sleep(0.12)
    assert not dog.signal.aborted, "the watchdog tripped after its block ended"


@pytest.mark.found_by_mutation
def test_a_late_check_after_the_block_does_nothing() -> None:
    dog = IdleWatchdog(0.05)
    with dog:
        pass
    dog._last = time.monotonic() - 10  # long silent
    dog._check()  # a timer callback that was already running when the block ended
    assert not dog.signal.aborted


@pytest.mark.found_by_mutation
def test_a_check_before_the_block_does_nothing() -> None:
    dog = IdleWatchdog(0.05)
    dog._last = time.monotonic() - 10
    dog._check()
    assert not dog.signal.aborted
    dog.__exit__(None, None, None)  # leaving without entering is harmless


@pytest.mark.found_by_mutation
def test_watchdogs_nest_and_progress_reaches_all_of_them() -> None:
    with IdleWatchdog(60) as outer, IdleWatchdog(60) as inner:
        assert _watchdogs.get()[-2:] == (outer, inner)
        outer._last = inner._last = 0.0
        report_progress()
        assert outer._last > 0 and inner._last > 0
    assert outer not in _watchdogs.get()


@pytest.mark.found_by_mutation
def test_watchdog_is_not_re_entrant() -> None:
    dog = IdleWatchdog(60)
    with dog:
        with pytest.raises(RuntimeError, match=r"^IdleWatchdog is not re-entrant$"):
            dog.__enter__()
        assert _watchdogs.get()[-1] is dog


@pytest.mark.found_by_mutation
def test_watchdog_async_with() -> None:
    async def main() -> IdleWatchdog:
        async with IdleWatchdog(0.05) as dog:
            assert _watchdogs.get() == (dog,)
            while not dog.signal.aborted:
                await asyncio.sleep(0.005)
        assert _watchdogs.get() == ()
        return dog

    dog = asyncio.run(main())
    assert dog.timed_out
    assert dog._token is None and not dog._active
