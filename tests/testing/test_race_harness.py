"""The race harness, tested: it must fail broken consumers, pass correct ones, and clean up.

A harness that never fails proves nothing, so most tests here run a deliberately broken
consumer and require ``RaceResult.check()`` to fail with the right complaint, at plans
where the breakage is certain to show (a trip exactly at a checkpoint, from the consumer
itself, from a second thread while the consumer waits, or from a signal handler).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings

from abortkit import AbortError, AbortSignal, abortable_iter, close_on_abort
from abortkit.testing._race import (
    Checkpoints,
    RaceHung,
    RacePlan,
    RaceResult,
    bytecode_steps,
    race_plans,
    run_race,
    signal_handler_trips_available,
    trip_delays,
    trip_points,
    trip_threads,
)
from abortkit.testing._resources import AsyncSlowStream, SlowStream, StreamClosed, live_threads, open_fds

Body = Callable[[AbortSignal, Checkpoints], object]

needs_signals = pytest.mark.skipif(not signal_handler_trips_available(), reason="needs setitimer and the main thread")

# Plans under which a breakage at `label` must show: the trip lands exactly there.
EXACT_THREADS = ["consumer", "other"] + (["signal_handler"] if signal_handler_trips_available() else [])


def exact_plans(label: str) -> list[RacePlan]:
    return [RacePlan(thread=thread, at=label, hold=True) for thread in EXACT_THREADS]  # type: ignore[arg-type]


def violations_of(body: Body, plan: RacePlan, **options: object) -> list[str]:
    result = run_race(body, plan, **options)  # type: ignore[arg-type]
    return result.violations()


def assert_caught(result: RaceResult, *fragments: str, max_unwind: float = 1.0) -> None:
    """check() must fail, naming each fragment."""
    with pytest.raises(AssertionError) as info:
        result.check(max_unwind=max_unwind)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "timeline:" in message


# -- consumers --------------------------------------------------------------------------------------


def correct_consumer(signal: AbortSignal, cp: Checkpoints) -> None:
    stream = SlowStream(range(5), gap=0.0002)
    cp("before_enter")
    with close_on_abort(signal, stream) as response:
        cp("after_register")
        for item in abortable_iter(response, signal):
            cp.deliver(item)
            cp("mid_iteration")
        cp("before_exit")
    cp("after_exit")


async def correct_async_consumer(signal: AbortSignal, cp: Checkpoints) -> None:
    stream = AsyncSlowStream(range(5), gap=0.0002)
    cp("before_enter")
    async with close_on_abort(signal, stream) as response:
        cp("after_register")
        async for item in abortable_iter(response, signal):
            cp.deliver(item)
            cp("mid_iteration")
        cp("before_exit")
    cp("after_exit")


def ignores_the_signal(signal: AbortSignal, cp: Checkpoints) -> None:
    for item in SlowStream(range(5)):
        cp.deliver(item)
        cp("mid_iteration")
    cp("after_exit")


async def ignores_the_signal_async(signal: AbortSignal, cp: Checkpoints) -> None:
    async for item in AsyncSlowStream(range(5)):
        cp.deliver(item)
        cp("mid_iteration")
    cp("after_exit")


def swallows_the_abort(signal: AbortSignal, cp: Checkpoints) -> None:
    stream = SlowStream(range(5))
    try:
        with close_on_abort(signal, stream) as response:
            for item in response:
                cp.deliver(item)
                cp("mid_iteration")
    except AbortError:
        pass  # the truncated answer now looks complete
    cp("after_exit")


def leaves_a_listener(signal: AbortSignal, cp: Checkpoints) -> None:
    signal.add_listener(lambda: None)  # never removed
    for item in abortable_iter(range(3), signal):
        cp.deliver(item)
    cp("after_exit")


def invents_an_abort(signal: AbortSignal, cp: Checkpoints) -> None:
    for item in range(3):
        cp.deliver(item)
    cp("after_exit")
    raise AbortError("made up")


def reports_an_abort_that_did_not_happen(signal: AbortSignal, cp: Checkpoints) -> None:
    cp("after_exit")
    cp.report_abort()


def lets_a_transport_error_out(signal: AbortSignal, cp: Checkpoints) -> None:
    stream = SlowStream(range(5), gap=0.001)
    with signal.add_listener(stream.close):  # closes, but nothing translates what follows
        for item in stream:
            cp.deliver(item)
            cp("mid_iteration")
    cp("after_exit")


# -- the harness passes what is right ---------------------------------------------------------------

LABELS = ["before_enter", "after_register", "mid_iteration:1", "mid_iteration:3", "before_exit", "after_exit"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=race_plans(LABELS, max_delay=0.002, max_steps=1000))
def test_a_correct_consumer_passes(plan: RacePlan) -> None:
    run_race(correct_consumer, plan).check()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=race_plans(LABELS, max_delay=0.002, max_steps=1000))
def test_a_correct_async_consumer_passes(plan: RacePlan) -> None:
    run_race(correct_async_consumer, plan).check()


@pytest.mark.parametrize("label", LABELS)
def test_a_correct_consumer_passes_at_every_exact_point(label: str) -> None:
    for plan in exact_plans(label):
        result = run_race(correct_consumer, plan)
        result.check()
        # before the work's end the abort must show; after it, it must not
        assert result.outcome == ("returned" if label == "after_exit" else "aborted"), result.timeline()


# -- the harness fails what is broken ---------------------------------------------------------------


@pytest.mark.parametrize("label", ["mid_iteration:1", "mid_iteration:3"])
def test_ignoring_the_signal_is_caught(label: str) -> None:
    for plan in exact_plans(label):
        result = run_race(ignores_the_signal, plan)
        assert_caught(result, "abort lost", "items delivered after abort() had returned")


def test_ignoring_the_signal_is_caught_in_async_code_too() -> None:
    for plan in exact_plans("mid_iteration:2"):
        assert_caught(run_race(ignores_the_signal_async, plan), "abort lost")


def test_a_delay_trip_catches_a_consumer_that_ignores_the_signal() -> None:
    def slow_and_deaf(signal: AbortSignal, cp: Checkpoints) -> None:
        for item in SlowStream(range(5), gap=0.004):
            cp.deliver(item)
        cp("after_exit")

    for thread in EXACT_THREADS:
        result = run_race(slow_and_deaf, RacePlan(thread=thread, offset=0.002))  # type: ignore[arg-type]
        assert_caught(result, "items delivered after abort() had returned")


def test_swallowing_the_abort_is_caught() -> None:
    for plan in exact_plans("mid_iteration:2"):
        assert_caught(run_race(swallows_the_abort, plan), "abort lost")


def test_a_listener_left_registered_is_caught() -> None:
    # The plan's point is never reached, so the harness trips after the body: the listener
    # is still registered at exit, and that trip runs it.
    for thread in EXACT_THREADS:
        result = run_race(leaves_a_listener, RacePlan(thread=thread, at="never reached"))  # type: ignore[arg-type]
        assert_caught(result, "1 listener(s) still registered", "started after the work was over")


def test_a_listener_still_running_after_exit_is_caught() -> None:
    def does_not_wait(signal: AbortSignal, cp: Checkpoints) -> None:
        stream = SlowStream(range(5), gap=0.002)

        def slow_close() -> None:
            stream.close()
            time.sleep(0.05)  # still busy when the consumer has left

        signal.add_listener(slow_close)  # and never removed: remove() would have waited
        try:
            for item in stream:
                cp.deliver(item)
                cp("mid_iteration")
        except StreamClosed:
            raise AbortError(signal.reason) from None

    result = run_race(does_not_wait, RacePlan(thread="other", at="mid_iteration:1"))
    assert_caught(result, "was still running after the work was over")


@pytest.mark.parametrize("body", [invents_an_abort, reports_an_abort_that_did_not_happen])
def test_an_invented_abort_is_caught(body: Body) -> None:
    for plan in [RacePlan(thread="other", at="after_exit", hold=True), RacePlan(thread="consumer", at="nowhere")]:
        assert_caught(run_race(body, plan), "abort invented")


def test_an_abort_error_with_another_reason_is_caught() -> None:
    def wrong_reason(signal: AbortSignal, cp: Checkpoints) -> None:
        cp("work")
        if signal.aborted:
            raise AbortError("not the trip's reason")

    assert_caught(run_race(wrong_reason, RacePlan(thread="consumer", at="work")), "not the trip's reason")


def test_an_untranslated_transport_error_is_caught() -> None:
    for plan in exact_plans("mid_iteration:2"):
        assert_caught(run_race(lets_a_transport_error_out, plan), "the body raised StreamClosed")


def test_a_blocked_read_nobody_wakes_is_caught() -> None:
    def no_close(signal: AbortSignal, cp: Checkpoints) -> None:
        cp("before_iter")
        for item in abortable_iter(SlowStream(range(2), gap=0.3), signal):  # the check alone waits for data
            cp.deliver(item)
        cp("after_exit")

    result = run_race(no_close, RacePlan(thread="other", at="before_iter"))
    assert_caught(result, "unwinding took", max_unwind=0.1)
    assert result.unwind_latency is not None and result.unwind_latency > 0.2


def test_a_blocking_listener_is_caught() -> None:
    def slow_listener(signal: AbortSignal, cp: Checkpoints) -> None:
        with signal.add_listener(lambda: time.sleep(0.15)):
            cp("work")
            signal.throw_if_aborted()
        cp("after_exit")

    result = run_race(slow_listener, RacePlan(thread="other", at="work", hold=True))
    assert_caught(result, "abort() took", max_unwind=0.1)


def test_a_thread_left_behind_is_caught() -> None:
    stop = threading.Event()

    def leaks_a_thread(signal: AbortSignal, cp: Checkpoints) -> None:
        threading.Thread(target=stop.wait, args=(5,), name="leaked-by-test", daemon=True).start()
        cp("after_exit")

    try:
        result = run_race(leaks_a_thread, RacePlan(thread="consumer", at="after_exit"), settle=0.05)
        assert_caught(result, "threads left behind: ['leaked-by-test']")
    finally:
        stop.set()


@pytest.mark.skipif(open_fds() is None, reason="no /proc/self/fd or /dev/fd here")
def test_a_file_descriptor_left_behind_is_caught() -> None:
    leaked: list[int] = []

    def leaks_a_pipe(signal: AbortSignal, cp: Checkpoints) -> None:
        leaked.extend(os.pipe())
        cp("after_exit")

    try:
        result = run_race(leaks_a_pipe, RacePlan(thread="consumer", at="after_exit"), settle=0.05)
        assert_caught(result, "file descriptors left behind")
        assert result.new_fds is not None and set(leaked) <= set(result.new_fds)
    finally:
        for fd in leaked:
            os.close(fd)


def test_a_hung_body_on_a_thread_is_caught() -> None:
    release = threading.Event()

    def hangs(signal: AbortSignal, cp: Checkpoints) -> None:
        release.wait(5)  # ignores the signal entirely

    try:
        result = run_race(hangs, RacePlan(thread="other", offset=0.01), timeout=0.2, settle=0.05)
        assert result.outcome == "hung"
        assert_caught(result, "did not finish within 0.2 s")
    finally:
        release.set()


@needs_signals
def test_a_hung_body_on_the_main_thread_is_interrupted_and_caught() -> None:
    def hangs(signal: AbortSignal, cp: Checkpoints) -> None:
        time.sleep(5)

    started = time.monotonic()
    result = run_race(hangs, RacePlan(thread="signal_handler", offset=0.01), timeout=0.2)
    assert time.monotonic() - started < 3
    assert isinstance(result.error, RaceHung)
    assert_caught(result, "did not finish within 0.2 s")


# -- how the trips land --------------------------------------------------------------------------------


def counting_body(signal: AbortSignal, cp: Checkpoints) -> None:
    cp("a")
    total = 0
    for n in range(200):
        total += n
    cp("b")
    cp("after_exit")


@pytest.mark.parametrize("thread", EXACT_THREADS)
def test_steps_move_the_trip_into_the_code_after_the_checkpoint(thread: str) -> None:
    tracer = sys.gettrace()  # None, or a coverage tool's: it must be put back
    inside = run_race(counting_body, RacePlan(thread=thread, at="a", steps=50, hold=True))  # type: ignore[arg-type]
    (b,) = [r for r in inside.reached if r.label == "b"]
    assert b.trip_started  # tripped between a and b
    beyond = run_race(counting_body, RacePlan(thread=thread, at="a", steps=10**6))  # type: ignore[arg-type]
    assert beyond.trip_started_at is not None and beyond.exited_at is not None
    assert beyond.trip_started_at > beyond.exited_at  # never reached: tripped after the body
    assert sys.gettrace() is tracer


@pytest.mark.parametrize("thread", EXACT_THREADS)
def test_the_trip_comes_from_the_planned_thread(thread: str) -> None:
    result = run_race(correct_consumer, RacePlan(thread=thread, at="mid_iteration:2", hold=True))  # type: ignore[arg-type]
    result.check()
    assert result.trip_thread is not None
    expected = {"consumer": "consumer", "other": "other thread", "signal_handler": "signal handler"}[thread]
    assert expected in result.trip_thread
    (run,) = result.listener_runs
    main = threading.main_thread().name
    assert run.thread == {"consumer": "abortkit-race-consumer", "other": "abortkit-race-tripper"}.get(thread, main)


def test_an_unreached_point_trips_after_the_body() -> None:
    result = run_race(correct_consumer, RacePlan(thread="other", at="mid_iteration:99"))
    result.check()
    assert result.outcome == "returned" and not result.tripped_during_body
    assert result.trip_started_at is not None


@needs_signals
def test_a_signal_handler_race_restores_sigalrm_and_its_timer() -> None:
    def sentinel(signum: int, frame: object) -> None:
        raise AssertionError("the test's own SIGALRM handler ran")

    previous = signal.signal(signal.SIGALRM, sentinel)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, 30.0)
    interval = sys.getswitchinterval()
    try:
        run_race(correct_consumer, RacePlan(thread="signal_handler", at="mid_iteration:1")).check()
        assert signal.getsignal(signal.SIGALRM) is sentinel
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < remaining <= 30.0
        assert sys.getswitchinterval() == interval
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if previous_timer[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, *previous_timer)


def test_signal_handler_plans_refuse_other_threads() -> None:
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            run_race(correct_consumer, RacePlan(thread="signal_handler", at="before_enter"))
        except BaseException as exc:
            errors.append(exc)
        try:
            trip_threads(signal_handler=True)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(10)
    assert [type(error) for error in errors] == [RuntimeError, ValueError]


def test_items_and_reports_are_recorded() -> None:
    def body(signal: AbortSignal, cp: Checkpoints) -> list[object]:
        cp.deliver("x")
        cp.deliver("y")
        cp("after_exit")
        return cp.items

    result = run_race(body, RacePlan(thread="consumer", at="after_exit"))
    result.check()
    assert result.value == ["x", "y"]
    assert [item.item for item in result.items] == ["x", "y"]
    assert "checkpoint after_exit#1" in result.timeline()
    assert repr(result).startswith("<RaceResult returned")


# -- plans and strategies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"thread": "elsewhere"}, "thread must be one of"),
        ({"offset": -1.0}, "offset must be >= 0"),
        ({"at": "x:0"}, "counts start at 1"),
        ({"at": ""}, "must not be empty"),
        ({"steps": 3}, "give `at` too"),
        ({"at": "x", "steps": -1}, "steps must be an int"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RacePlan(**kwargs)  # type: ignore[arg-type]


def test_plan_targets() -> None:
    assert RacePlan(at="mid:3").target == ("mid", 3)
    assert RacePlan(at="mid").target == ("mid", 1)
    assert RacePlan(at="a:b").target == ("a:b", 1)
    assert RacePlan().target is None
    assert "at 'mid:3' + 7 bytecodes from consumer (held)" in str(
        RacePlan(thread="consumer", at="mid:3", hold=True, steps=7)
    )


def test_strategy_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        race_plans()
    with pytest.raises(ValueError):
        trip_points([])
    with pytest.raises(ValueError):
        trip_delays(-1)
    with pytest.raises(ValueError):
        bytecode_steps(-1)


@settings(max_examples=200)
@given(
    plan=race_plans(["p", "q:2"], max_offset=50e-6, max_delay=0.001, max_steps=100),
    steps=bytecode_steps(1000),
    point=trip_points(["p"], max_offset=10e-6),
)
def test_strategies_stay_in_bounds(plan: RacePlan, steps: int, point: tuple[str, float]) -> None:
    assert plan.thread in EXACT_THREADS
    if plan.at is None:
        assert 0 <= plan.offset <= 0.001 and plan.steps is None
    else:
        assert plan.at in ("p", "q:2") and 0 <= plan.offset <= 50e-6
        assert plan.steps is None or 0 <= plan.steps <= 100
    assert 0 <= steps <= 1000
    assert point[0] == "p" and 0 <= point[1] <= 10e-6


@settings(max_examples=50)
@given(thread=trip_threads(signal_handler=False))
def test_trip_threads_can_leave_out_the_signal_handler(thread: str) -> None:
    assert thread in ("consumer", "other")


# -- the streams -------------------------------------------------------------------------------------


def test_slow_stream_close_wakes_a_blocked_read_from_another_thread() -> None:
    stream = SlowStream(range(3), gap=5.0)
    threading.Timer(0.05, stream.close).start()
    started = time.monotonic()
    with pytest.raises(StreamClosed, match="blocked"):
        next(stream)
    assert time.monotonic() - started < 1.0
    with pytest.raises(StreamClosed, match="closed stream"):
        next(stream)
    stream.close()
    assert stream.close_calls == 2 and stream.reads_after_close == 1 and stream.items_read == 0
    assert [call.thread for call in stream.close_log][1] == threading.current_thread().name


def test_slow_stream_hands_out_its_items_then_stops() -> None:
    stream = SlowStream("abc", gap=0.001)
    assert list(stream) == ["a", "b", "c"]
    assert stream.exhausted and stream.close_calls == 0 and not stream.closed
    with pytest.raises(ValueError):
        SlowStream([], gap=-1)


def test_async_slow_stream_aclose_wakes_a_blocked_read() -> None:
    import asyncio

    async def scenario() -> float:
        stream = AsyncSlowStream(range(3), gap=5.0)
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(stream.aclose()))
        started = time.monotonic()
        with pytest.raises(StreamClosed):
            await stream.__anext__()
        assert stream.close_calls == 1 and stream.closed
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_live_threads_and_open_fds_see_new_ones() -> None:
    before_fds = open_fds()
    before_threads = live_threads()
    read_end, write_end = os.pipe()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="seen-by-test")
    thread.start()
    try:
        assert thread in live_threads() - before_threads
        assert thread not in live_threads(ignore=["seen-by-test"])
        if before_fds is not None:
            now = open_fds()
            assert now is not None
            new = {fd for fd, target in now.items() if before_fds.get(fd) != target}
            assert {read_end, write_end} <= new
            assert now[read_end].startswith("pipe:") or now[read_end] == "?"
    finally:
        stop.set()
        thread.join()
        os.close(read_end)
        os.close(write_end)


def test_either_way_labels_accept_a_normal_return_after_the_result_was_complete() -> None:
    def reads_to_the_end_first(signal: AbortSignal, cp: Checkpoints) -> None:
        for item in SlowStream(range(2)):  # as an HTTP response read to its end and released
            cp.deliver(item)
        cp("stream_ended")
        cp("after_exit")

    plan = RacePlan(thread="consumer", at="stream_ended")
    assert_caught(run_race(reads_to_the_end_first, plan), "abort lost")
    run_race(reads_to_the_end_first, plan, either_way=["stream_ended"]).check()


# A bytecode-step countdown that ends inside Python code the garbage collector runs, while
# CPython 3.11 is creating the frame object of a traced call, used to crash the interpreter:
# the harness's sys.settrace() dropped the last reference to its global trace function, which
# CPython then called through the borrowed reference it had read before (a use-after-free in
# ceval.c's call_trace). The script below makes that happen at will: the gc threshold puts a
# collection exactly at the frame object of each ``Node.__init__`` (the instance is the first
# allocation, the frame the second), and the gc callback is where the countdowns end. Under
# PYTHONMALLOC=debug freed memory is poisoned, so the crash is certain (4 of 4 before the fix).
_COUNTDOWNS_ENDING_INSIDE_THE_GC = """
import gc
from abortkit.testing import RacePlan, run_race

def during_collection(phase, info):
    total = 0
    for index in range(100):
        total += index

class Node:
    def __init__(self):
        pass

def body(signal, cp):
    cp("start")
    for _ in range(50):
        Node()

gc.callbacks.append(during_collection)
gc.set_threshold(1, 1000, 1000)
for steps in range(1, 4000, 13):
    run_race(body, RacePlan(thread="consumer", at="start", steps=steps), timeout=2.0)
print("survived")
"""


def test_a_step_countdown_ending_inside_the_garbage_collector_does_not_crash() -> None:
    import subprocess

    env = {**os.environ, "PYTHONMALLOC": "debug", "PYTHONFAULTHANDLER": "1"}
    script = [sys.executable, "-c", _COUNTDOWNS_ENDING_INSIDE_THE_GC]
    done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "survived", done.stderr[-3000:]
