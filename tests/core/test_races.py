"""Race fuzzing of abortkit's core with real threads and real signal handlers.

Two kinds of tests:

* Hypothesis drives :func:`abortkit.testing._race.run_race`: it chooses where in the
  consumer's work the signal trips (a labelled checkpoint plus 0..300 us, or a delay of
  up to a few ms while the consumer is blocked in a read) and from which thread (the
  consumer itself, a second thread, or a SIGALRM handler interrupting the consumer on the
  main thread). ``RaceResult.check()`` then holds the run to the invariants: no abort
  lost or invented, nothing delivered after the abort, prompt unwind, no listener running
  after the work, nothing left registered, no thread or fd left behind. Each test adds
  what is specific to its mechanism (how many times the stream was closed).
* Direct tests of ``AbortController``/``AbortSignal`` under contention: many aborters at
  once, registrations racing an abort, ``remove()`` racing a running callback, and a
  SIGALRM handler hammering the same objects as the main thread.

The default run is about 500 interleavings and takes seconds; the ``stress`` variants run
10,000+ per test (``pytest -m stress tests/core/test_races.py``).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import abortkit
from abortkit import (
    AbortController,
    AbortError,
    AbortSignal,
    ListenerRegistration,
    abort_scope,
    abortable,
    abortable_iter,
    close_on_abort,
    current_signals,
)
from abortkit.testing._race import Checkpoints, RacePlan, RaceResult, race_plans, run_race, trip_threads
from abortkit.testing._resources import AsyncSlowStream, SlowStream

ABORTKIT_DIR = os.path.dirname(abortkit.__file__)
ITEMS = 5
# Loose on purpose: it catches hangs and reads nobody woke (the blocked-read test waits 10 s
# for data). On 2 shared cores, 10,000-run stress runs saw a runnable consumer wait 700 ms.
MAX_UNWIND = 1.0
MID = [f"mid_iteration:{n}" for n in range(1, ITEMS + 1)]
MAX_STEPS = 1500  # bytecodes after a checkpoint: a whole close_on_abort block is about 900


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


STRESS = 10_000


def stress(test: Callable[..., None]) -> Callable[..., None]:
    """10,000+ interleavings: minutes per test, past the suite's default 120 s timeout."""
    marked: Callable[..., None] = pytest.mark.stress(pytest.mark.timeout(3600)(test))
    return marked


gaps = st.sampled_from([0.0, 0.0001, 0.0005])


def at_every_label(labels: list[str], **fixed: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Explicit examples, run before the random ones: a trip exactly at each checkpoint, from
    the consumer itself and from another thread while the consumer waits there."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for label in reversed(labels):
            for thread in ("other", "consumer"):
                test = example(plan=RacePlan(thread=thread, at=label, hold=True), **fixed)(test)
        return test

    return decorate


def checked(result: RaceResult) -> RaceResult:
    result.check(max_unwind=MAX_UNWIND)
    return result


# -- close_on_abort over a SlowStream --------------------------------------------------------------

CLOSE_LABELS = ["before_enter", "after_register", *MID, "before_exit", "after_exit"]


def race_close_on_abort(plan: RacePlan, gap: float) -> None:
    stream = SlowStream(range(ITEMS), gap=gap)

    def body(signal: AbortSignal, cp: Checkpoints) -> None:
        cp("before_enter")
        with close_on_abort(signal, stream) as response:
            cp("after_register")
            for item in response:
                cp.deliver(item)
                cp("mid_iteration")
            cp("before_exit")
        cp("after_exit")

    result = checked(run_race(body, plan))
    # No HTTP response to inspect: an abort during the block always interrupts, and the
    # listener (which closes) runs iff the block ends in AbortError.
    assert stream.close_calls == (1 if result.outcome == "aborted" else 0), result.timeline()
    assert stream.reads_after_close <= 1


@fuzz(110)
@at_every_label(CLOSE_LABELS, gap=0.0)
@given(plan=race_plans(CLOSE_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS), gap=gaps)
def test_close_on_abort_races(plan: RacePlan, gap: float) -> None:
    race_close_on_abort(plan, gap)


@stress
@fuzz(STRESS)
@given(plan=race_plans(CLOSE_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS), gap=gaps)
def test_close_on_abort_races_stress(plan: RacePlan, gap: float) -> None:
    race_close_on_abort(plan, gap)


def race_blocked_read(plan: RacePlan) -> None:
    """The consumer is blocked in a 10 s read when the trip lands: close_on_abort must wake it."""
    stream = SlowStream(range(2), gap=10.0)

    def body(signal: AbortSignal, cp: Checkpoints) -> None:
        with close_on_abort(signal, stream) as response:
            for item in response:
                cp.deliver(item)
        cp("after_exit")

    result = checked(run_race(body, plan))
    assert result.outcome == "aborted"
    assert result.items == []
    assert stream.close_calls == 1


# The consumer cannot trip itself while it is blocked: another thread or a signal handler must.
blocked_plans = race_plans(max_delay=0.005, threads=trip_threads().filter(lambda thread: thread != "consumer"))


@fuzz(30)
@given(plan=blocked_plans)
def test_close_on_abort_wakes_a_blocked_read(plan: RacePlan) -> None:
    race_blocked_read(plan)


@stress
@fuzz(STRESS)
@given(plan=blocked_plans)
def test_close_on_abort_wakes_a_blocked_read_stress(plan: RacePlan) -> None:
    race_blocked_read(plan)


# -- abortable_iter -----------------------------------------------------------------------------------

ITER_LABELS = ["before_iter", *MID, "after_exit"]


def race_abortable_iter(plan: RacePlan, gap: float, with_close: bool) -> None:
    stream = SlowStream(range(ITEMS), gap=gap)

    def body(signal: AbortSignal, cp: Checkpoints) -> None:
        if with_close:  # the seed PR's pattern: the close wakes the read, the check stops the rest
            with close_on_abort(signal, stream) as response:
                cp("before_iter")
                for item in abortable_iter(response, signal):
                    cp.deliver(item)
                    cp("mid_iteration")
        else:
            cp("before_iter")
            for item in abortable_iter(stream, signal):
                cp.deliver(item)
                cp("mid_iteration")
        cp("after_exit")

    result = checked(run_race(body, plan))
    if result.outcome == "returned":
        assert stream.close_calls == 0
        assert stream.exhausted
    elif with_close:
        # The listener closes, then abortable_iter closes the source it stopped early:
        # two calls, one effect (close() is idempotent).
        assert 1 <= stream.close_calls <= 2
    else:
        assert stream.close_calls == 1
    assert stream.reads_after_close <= 1


@fuzz(100)
@at_every_label(ITER_LABELS, gap=0.0, with_close=False)
@given(
    plan=race_plans(ITER_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS),
    gap=gaps,
    with_close=st.booleans(),
)
def test_abortable_iter_races(plan: RacePlan, gap: float, with_close: bool) -> None:
    race_abortable_iter(plan, gap, with_close)


@stress
@fuzz(STRESS)
@given(
    plan=race_plans(ITER_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS),
    gap=gaps,
    with_close=st.booleans(),
)
def test_abortable_iter_races_stress(plan: RacePlan, gap: float, with_close: bool) -> None:
    race_abortable_iter(plan, gap, with_close)


# -- @abortable: a generator and a plain function (each with close_on_abort inside) ----------------

GEN_LABELS = ["before_call", "after_call", "after_register", *MID, "before_exit", "after_exit"]


@abortable
def produce(stream: SlowStream[int], cp: Checkpoints, *, abort_signal: AbortSignal | None) -> Iterator[int]:
    with close_on_abort(abort_signal, stream) as response:
        cp("after_register")
        # Not `yield from`: closing the generator would then close the stream a second time.
        for item in response:  # noqa: UP028
            yield item
        cp("before_exit")


@abortable
def produce_buffered(stream: SlowStream[int], cp: Checkpoints, *, abort_signal: AbortSignal | None) -> Iterator[int]:
    # Like an SDK's SSE decoder: nothing closes the source, only @abortable's check stops it.
    cp("after_register")
    yield from stream
    cp("before_exit")


@abortable
def collect(stream: SlowStream[int], cp: Checkpoints, *, abort_signal: AbortSignal | None) -> list[int]:
    parts: list[int] = []
    with close_on_abort(abort_signal, stream) as response:
        cp("after_register")
        for item in response:
            parts.append(item)
            cp("mid_iteration")
    cp("before_exit")  # the recheck must catch a trip here
    return parts


gen_plans = race_plans(GEN_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS)
FUNC_LABELS = ["before_call", "after_register", *MID, "before_exit", "after_exit"]
func_plans = race_plans(FUNC_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS)


def race_abortable(plan: RacePlan, gap: float, generator: bool, buffered: bool) -> None:
    stream = SlowStream(range(ITEMS), gap=gap)
    partials: list[object] = []

    def body(signal: AbortSignal, cp: Checkpoints) -> object:
        cp("before_call")
        if generator:
            items = (produce_buffered if buffered else produce)(stream, cp, abort_signal=signal)
            cp("after_call")
            for item in items:
                cp.deliver(item)
                cp("mid_iteration")
            cp("after_exit")
            return None
        try:
            parts = collect(stream, cp, abort_signal=signal)
        except AbortError as error:
            partials.append(error.partial)
            raise
        cp("after_exit")
        return parts

    result = checked(run_race(body, plan))
    assert stream.close_calls <= 1  # (yield from closes the stream when the generator is closed)
    if result.outcome == "returned":
        assert stream.close_calls == 0
        if not generator:
            assert result.value == list(range(ITEMS))
    for produced in partials:  # the recheck hands over what the body had produced
        assert produced is None or produced == list(range(stream.items_read))


@fuzz(60)
@at_every_label(GEN_LABELS, gap=0.0, buffered=False)
@given(plan=gen_plans, gap=gaps, buffered=st.booleans())
def test_abortable_generator_races(plan: RacePlan, gap: float, buffered: bool) -> None:
    race_abortable(plan, gap, generator=True, buffered=buffered)


@stress
@fuzz(STRESS)
@given(plan=gen_plans, gap=gaps, buffered=st.booleans())
def test_abortable_generator_races_stress(plan: RacePlan, gap: float, buffered: bool) -> None:
    race_abortable(plan, gap, generator=True, buffered=buffered)


@fuzz(60)
@at_every_label(FUNC_LABELS, gap=0.0)
@given(plan=func_plans, gap=gaps)
def test_abortable_function_races(plan: RacePlan, gap: float) -> None:
    race_abortable(plan, gap, generator=False, buffered=False)


@stress
@fuzz(STRESS)
@given(plan=func_plans, gap=gaps)
def test_abortable_function_races_stress(plan: RacePlan, gap: float) -> None:
    race_abortable(plan, gap, generator=False, buffered=False)


# -- async: close_on_abort, abortable_iter, @abortable async generator --------------------------------

ASYNC_LABELS = ["before_enter", "after_register", *MID, "after_exit"]


@abortable
async def aproduce(
    stream: AsyncSlowStream[int], cp: Checkpoints, *, abort_signal: AbortSignal | None
) -> AsyncIterator[int]:
    async with close_on_abort(abort_signal, stream) as response:
        cp("after_register")
        async for item in response:
            yield item


def race_async(plan: RacePlan, gap: float, kind: str) -> None:
    if kind == "close_on_abort":
        # Alone, an async close_on_abort only stops a consumer that waits: the close runs on
        # the loop, so a consumer draining buffered items without yielding to the loop sees
        # them all (that is what abortable_iter is for). A gap makes every read wait.
        gap = max(gap, 0.0001)
    stream = AsyncSlowStream(range(ITEMS), gap=gap)

    async def body(signal: AbortSignal, cp: Checkpoints) -> None:
        cp("before_enter")
        if kind == "close_on_abort":
            async with close_on_abort(signal, stream) as response:
                cp("after_register")
                async for item in response:
                    cp.deliver(item)
                    cp("mid_iteration")
        elif kind == "close_and_iter":
            async with close_on_abort(signal, stream) as response:
                cp("after_register")
                async for item in abortable_iter(response, signal):
                    cp.deliver(item)
                    cp("mid_iteration")
        elif kind == "abortable_iter":
            cp("after_register")
            async for item in abortable_iter(stream, signal):
                cp.deliver(item)
                cp("mid_iteration")
        else:
            async for item in aproduce(stream, cp, abort_signal=signal):
                cp.deliver(item)
                cp("mid_iteration")
        cp("after_exit")

    result = checked(run_race(body, plan))
    # close_and_iter: the listener's close and abortable_iter's close of the stopped source.
    assert stream.close_calls <= (2 if kind == "close_and_iter" else 1), stream.close_log
    if result.outcome == "returned":
        assert stream.close_calls == 0
    exits = [r.at for r in result.reached if r.label == "after_exit"]
    work_over = exits[0] if exits else result.exited_at
    for call in stream.close_log:  # after exit, nothing of ours runs: the scheduled close included
        assert work_over is not None and call.at <= work_over, result.timeline()


async_kinds = st.sampled_from(["close_on_abort", "close_and_iter", "abortable_iter", "generator"])


@fuzz(100)
@at_every_label(ASYNC_LABELS, gap=0.0, kind="close_and_iter")
@given(
    plan=race_plans(ASYNC_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS), gap=gaps, kind=async_kinds
)
def test_async_races(plan: RacePlan, gap: float, kind: str) -> None:
    race_async(plan, gap, kind)


@stress
@fuzz(STRESS)
@given(
    plan=race_plans(ASYNC_LABELS, max_offset=300e-6, max_delay=0.003, max_steps=MAX_STEPS), gap=gaps, kind=async_kinds
)
def test_async_races_stress(plan: RacePlan, gap: float, kind: str) -> None:
    race_async(plan, gap, kind)


# -- AbortController under contention ------------------------------------------------------------------


@contextmanager
def fine_switching(interval: float = 1e-5) -> Iterator[None]:
    """Make threads interleave every few bytecodes instead of every 5 ms."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def join_all(threads: list[threading.Thread], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running (deadlock?): {stuck}"


def abort_from_eight_threads_once() -> None:
    controller = AbortController()
    calls: list[int] = []  # list.append is atomic: a lost or doubled call shows here
    registrations = [controller.signal.add_listener(partial(calls.append, n)) for n in range(100)]
    barrier = threading.Barrier(8)
    won: list[tuple[int, bool]] = []
    left_pending: list[int] = []

    def aborter(n: int) -> None:
        barrier.wait()
        won.append((n, controller.abort(f"thread {n}")))
        # No abort() returns while a listener registered before it is still pending.
        left_pending.append(controller.signal.listener_count)

    threads = [threading.Thread(target=aborter, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert sorted(calls) == list(range(100))
    winners = [n for n, tripped in won if tripped]
    assert len(won) == 8 and len(winners) == 1
    assert controller.signal.reason == f"thread {winners[0]}"  # the first reason wins
    assert left_pending == [0] * 8
    assert all(registration.ran and not registration.remove() for registration in registrations)


def test_abort_from_eight_threads_runs_each_listener_once() -> None:
    with fine_switching():
        for _ in range(30):
            abort_from_eight_threads_once()


@stress
def test_abort_from_eight_threads_runs_each_listener_once_stress() -> None:
    with fine_switching():
        for _ in range(STRESS):
            abort_from_eight_threads_once()


def add_remove_while_aborting_once(abort_after: int) -> None:
    """Every registration either ran exactly once or its remove() returned True: never both, never neither."""
    controller = AbortController()
    signal = controller.signal
    calls: list[int] = []
    records: list[tuple[int, ListenerRegistration, bool | None]] = []
    start = threading.Barrier(7)

    def worker(w: int) -> None:
        start.wait()
        for k in range(60):
            ident = w * 1000 + k
            registration = signal.add_listener(partial(calls.append, ident))
            removed = registration.remove() if k % 2 else None
            records.append((ident, registration, removed))

    def aborter() -> None:
        start.wait()
        for _ in range(abort_after):  # let the workers get going first, by a varying amount
            time.sleep(0)
        controller.abort("race")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    threads.append(threading.Thread(target=aborter))
    for thread in threads:
        thread.start()
    join_all(threads)
    assert len(records) == 360
    runs: dict[int, int] = {}
    for ident in calls:
        runs[ident] = runs.get(ident, 0) + 1
    for ident, registration, removed in records:
        ran = runs.get(ident, 0)
        assert ran <= 1, f"listener {ident} ran {ran} times"
        if removed is None:  # never removed: the abort must have run it
            assert ran == 1, f"listener {ident} was lost"
        else:
            assert (ran == 1) != removed, f"listener {ident}: ran={ran} remove()={removed}"
        assert registration.ran == (ran == 1)
    assert signal.listener_count == 0


def test_add_and_remove_racing_abort_lose_no_listener() -> None:
    with fine_switching():
        for n in range(40):
            add_remove_while_aborting_once(abort_after=n * 7 % 300)


@stress
def test_add_and_remove_racing_abort_lose_no_listener_stress() -> None:
    with fine_switching():
        for n in range(STRESS):
            add_remove_while_aborting_once(abort_after=n * 7 % 300)


def test_remove_waits_for_a_callback_running_on_another_thread() -> None:
    controller = AbortController()
    started = threading.Event()
    release = threading.Event()
    finished: list[float] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        finished.append(time.monotonic())

    registration = controller.signal.add_listener(slow)
    aborter = threading.Thread(target=controller.abort)
    aborter.start()
    assert started.wait(5)
    removed: list[tuple[bool, float]] = []
    remover = threading.Thread(target=lambda: removed.append((registration.remove(), time.monotonic())))
    remover.start()
    remover.join(0.2)
    assert remover.is_alive(), "remove() returned while the callback was still running"
    release.set()
    join_all([remover, aborter])
    assert removed[0][0] is False  # too late to prevent it...
    assert removed[0][1] >= finished[0]  # ...and it returned only once the callback was done


def test_a_callback_removing_itself_does_not_wait_for_itself() -> None:
    controller = AbortController()
    holder: list[ListenerRegistration] = []
    results: list[bool] = []
    holder.append(controller.signal.add_listener(lambda: results.append(holder[0].remove())))
    aborter = threading.Thread(target=controller.abort)
    aborter.start()
    join_all([aborter], timeout=5)
    assert results == [False]


# -- a SIGALRM handler against the main thread ----------------------------------------------------------


@contextmanager
def sigalrm(handler: Callable[[int, Any], None], interval: float) -> Iterator[None]:
    """Install ``handler`` on an interval timer, then put back whatever was there (pytest-timeout)."""
    previous = signal.signal(signal.SIGALRM, handler)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, interval, interval)
    installed = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        time.sleep(0.005)  # a tick already on its way lands on our handler
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if previous_timer[0] > 0:
            remaining = max(previous_timer[0] - (time.monotonic() - installed), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, remaining, previous_timer[1])


def signal_handler_hammer(seconds: float, interval: float = 100e-6) -> dict[str, int]:
    """The handler and the main thread both add, remove and abort, on the same signals.

    Every registration ever made, by either side, must end up either run exactly once or
    prevented by a remove() that returned True; nothing may deadlock (faulthandler kills
    the run with every thread's stack if it does, instead of hanging).
    """
    calls: list[int] = []
    made: list[tuple[int, ListenerRegistration]] = []
    removable: list[tuple[int, ListenerRegistration]] = []
    removed: dict[int, bool] = {}
    counter = iter(range(10**9))
    current: list[AbortController] = [AbortController()]
    ticks = [0]
    landed_inside = [0]

    def register(controller: AbortController) -> None:
        ident = next(counter)
        registration = controller.signal.add_listener(lambda: calls.append(ident))
        made.append((ident, registration))
        removable.append((ident, registration))

    def remove_one() -> None:
        try:
            ident, registration = removable.pop()
        except IndexError:
            return
        removed[ident] = registration.remove()

    def handler(signum: int, frame: Any) -> None:
        ticks[0] += 1
        if frame is not None and frame.f_code.co_filename.startswith(ABORTKIT_DIR):
            landed_inside[0] += 1
        action = ticks[0] % 3
        controller = current[0]
        if action == 0:
            controller.abort("handler")
        elif action == 1:
            register(controller)
        else:
            remove_one()

    faulthandler.dump_traceback_later(max(30.0, seconds * 5), exit=True)
    try:
        with sigalrm(handler, interval):
            deadline = time.monotonic() + seconds
            rounds = 0
            while time.monotonic() < deadline:
                controller = AbortController()
                current[0] = controller
                for _ in range(4):
                    register(controller)
                remove_one()
                remove_one()
                controller.abort("main")
                register(controller)  # after the abort: runs at once
                remove_one()
                rounds += 1
    finally:
        faulthandler.cancel_dump_traceback_later()

    runs: dict[int, int] = {}
    for ident in calls:
        runs[ident] = runs.get(ident, 0) + 1
    # Every controller was aborted (by the main thread at the end of its round, if not before).
    for ident, registration in made:
        ran = runs.get(ident, 0)
        assert registration.signal.aborted
        assert ran <= 1, f"listener {ident} ran {ran} times"
        if ident in removed:
            assert (ran == 1) != removed[ident], f"listener {ident}: ran={ran} remove()={removed[ident]}"
        else:
            assert ran == 1, f"listener {ident} was lost"
    assert rounds > 100, f"the main thread made little progress ({rounds} rounds)"
    assert ticks[0] > 200, f"the handler ran only {ticks[0]} times"
    assert landed_inside[0] > 0, "no tick interrupted abortkit itself: the test proved nothing"
    return {"rounds": rounds, "ticks": ticks[0], "inside_abortkit": landed_inside[0], "registrations": len(made)}


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_signal_handler_and_main_thread_race_on_the_same_signal() -> None:
    signal_handler_hammer(seconds=1.5)


@stress
@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_signal_handler_and_main_thread_race_on_the_same_signal_stress() -> None:
    signal_handler_hammer(seconds=20.0)


# -- found while writing these tests ----------------------------------------------------------------


def test_a_scope_opened_inside_an_abortable_generator_survives_a_yield() -> None:
    outer, inner = AbortController(), AbortController()

    @abortable
    def generate(abort_signal: AbortSignal | None) -> Iterator[tuple[AbortSignal, ...]]:
        with abort_scope(inner.signal):
            yield current_signals()
            yield current_signals()

    first, second = generate(abort_signal=outer.signal)
    assert inner.signal in first
    assert inner.signal in second


def test_an_abort_reentering_while_the_response_is_released_does_not_deadlock() -> None:
    httpx2 = pytest.importorskip("httpx2")
    byte_stream: Any = httpx2.SyncByteStream

    class Chunks(byte_stream):  # type: ignore[misc]
        def __iter__(self) -> Iterator[bytes]:
            yield b"data"

    guards: list[Any] = []

    def body(signal: AbortSignal, cp: Checkpoints) -> None:
        response = httpx2.Response(200, stream=Chunks())
        block = close_on_abort(signal, response)
        with block:
            guards.append(getattr(block, "_guard", None))
            cp("before_close")
            response.close()  # the consumer releases the connection...
        cp("after_exit")

    # ...and the abort lands at each bytecode of that, in turn, as a signal handler's would.
    for steps in range(300):
        guards.clear()
        plan = RacePlan(thread="consumer", at="before_close", steps=steps)
        result = run_race(body, plan, timeout=0.5, settle=0.05, either_way=["before_close"])
        if result.outcome == "hung":  # let the deadlocked thread go before failing
            lock = getattr(guards[0], "_lock", None)
            with suppress(RuntimeError, AttributeError):
                lock.release()  # type: ignore[union-attr]
            time.sleep(0.1)
        result.check(max_unwind=MAX_UNWIND)
        assert result.trip_started_at is not None and result.exited_at is not None
        if result.trip_started_at > result.exited_at:
            break  # the trip point is past the body: every bytecode of it was tried
