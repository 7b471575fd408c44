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
        armed = dog._generation
    dog._last = time.monotonic() - 10  # long silent
    dog._check(armed)  # a timer callback that was already running when the block ended
    assert not dog.signal.aborted


@pytest.mark.found_by_mutation
def test_a_check_before_the_block_does_nothing() -> None:
    dog = IdleWatchdog(0.05)
    dog._last = time.monotonic() - 10
    dog._check(dog._generation)
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


# -- deadlines real agents use (issue 12) -------------------------------------------------------


class AppTimeout(Exception):
    """An application's own timeout exception, with its own text."""


def test_none_disables_the_timeout_but_the_parent_still_aborts() -> None:
    parent = AbortController()
    with IdleWatchdog(None, parent=parent.signal) as dog:
        time.sleep(0.2)
        assert not dog.signal.aborted and dog.timeout is None
        parent.abort("esc")
        assert dog.signal.reason == "esc" and not dog.timed_out


def test_a_grace_period_before_the_first_progress_then_the_shorter_idle_timeout() -> None:
    with IdleWatchdog(0.1, first_timeout=0.6) as dog:
        assert dog.timeout == 0.6
        time.sleep(0.3)  # longer than the idle timeout, shorter than the grace period
        assert not dog.signal.aborted, "the idle timeout applied before the first progress"
        dog.note_progress()
        assert dog.timeout == 0.1
        progressed = time.monotonic()
        assert wait_for(lambda: dog.signal.aborted, 3.0)
        assert time.monotonic() - progressed >= 0.1
    assert dog.timed_out and str(dog.signal.reason) == "no bytes received for 0.1 s"


def test_set_timeout_rearms_at_once_shorter_longer_or_disabled() -> None:
    with IdleWatchdog(30) as dog:
        dog.set_timeout(0.05)  # shorter: must not wait for the 30 s check
        assert wait_for(lambda: dog.signal.aborted, 3.0)
    assert dog.timed_out
    with IdleWatchdog(0.1) as dog:
        dog.set_timeout(None)
        time.sleep(0.3)
        assert not dog.signal.aborted
        dog.set_timeout(0.05)
        assert wait_for(lambda: dog.signal.aborted, 3.0)


def test_without_count_bytes_only_note_progress_postpones_the_timeout() -> None:
    with IdleWatchdog(0.3, count_bytes=False) as dog:
        entered = time.monotonic()
        while not dog.signal.aborted and time.monotonic() - entered < 3.0:
            report_progress()  # what the network layer does for every read, keep-alives included
            time.sleep(0.02)
        assert dog.signal.aborted, "bytes kept a content-only watchdog alive"
        assert time.monotonic() - entered >= 0.3
    assert str(dog.signal.reason) == "no progress for 0.3 s"
    with IdleWatchdog(0.3, count_bytes=False) as dog:
        entered = time.monotonic()
        while time.monotonic() - entered < 0.65:
            dog.note_progress()
            time.sleep(0.02)
        assert not dog.signal.aborted


def test_on_quiet_runs_once_per_silence_after_quiet_after() -> None:
    calls: list[float] = []
    with IdleWatchdog(0.6, on_quiet=calls.append, quiet_after=0.1) as dog:
        assert wait_for(lambda: len(calls) == 1, 3.0)
        time.sleep(0.15)
        assert len(calls) == 1, "on_quiet ran twice in one silence"
        assert calls[0] >= 0.1
        dog.note_progress()  # a new silence
        assert wait_for(lambda: len(calls) == 2, 3.0)
        assert not dog.signal.aborted
        assert wait_for(lambda: dog.signal.aborted, 3.0)


def test_on_quiet_defaults_to_half_the_timeout_and_a_raising_hook_does_not_stop_the_timeout() -> None:
    calls: list[float] = []

    def hook(silence: float) -> None:
        calls.append(silence)
        raise RuntimeError("broken hook")

    started = time.monotonic()
    with IdleWatchdog(0.2, on_quiet=hook) as dog:
        assert wait_for(lambda: dog.signal.aborted, 3.0)
    assert len(calls) == 1 and 0.1 <= calls[0] < 0.2
    assert time.monotonic() - started >= 0.2 and dog.timed_out


def test_error_makes_the_apps_own_timeout_exception_the_reason() -> None:
    made: list[IdleTimeoutError] = []

    def make(idle: IdleTimeoutError) -> AppTimeout:
        made.append(idle)
        return AppTimeout(f"the model said nothing ({idle})")

    with IdleWatchdog(0.05, error=make) as dog:
        assert wait_for(lambda: dog.signal.aborted, 3.0)
    assert isinstance(dog.signal.reason, AppTimeout)
    assert str(dog.signal.reason) == "the model said nothing (no bytes received for 0.05 s)"
    assert isinstance(made[0], IdleTimeoutError) and dog.timed_out


def test_an_error_factory_that_fails_still_times_out_with_the_idle_timeout_error() -> None:
    with IdleWatchdog(0.05, error=lambda idle: "not an exception") as dog:  # type: ignore[arg-type,return-value]
        assert wait_for(lambda: dog.signal.aborted, 3.0)
    assert isinstance(dog.signal.reason, IdleTimeoutError) and dog.timed_out


def test_timed_out_is_false_when_the_parent_aborted_first() -> None:
    parent = AbortController()
    with IdleWatchdog(0.05, parent=parent.signal) as dog:
        parent.abort(IdleTimeoutError("the parent's own"))
        time.sleep(0.15)
    assert not dog.timed_out
