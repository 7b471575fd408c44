"""The race harness: trip an abort at a chosen point, from a chosen thread, and check what follows.

Why it exists
-------------
abortkit's promises are about interleavings: an abort is never lost between a check and a
registration, no item is handed over after the abort, no listener runs after the ``with``
block that registered it has exited, nothing is left behind. A test that aborts "after
0.3 s" exercises one interleaving per run. This harness lets Hypothesis choose thousands
(``race_plans``): *where* in the consumer's work the signal trips, and *from which thread*.

Where: at a labelled checkpoint of the consumer, plus a few microseconds (``offset``); or
``steps`` bytecodes after the checkpoint, counted by a ``sys.settrace`` opcode tracer on
the consumer thread, which reaches every point *inside* abortkit's own code
deterministically (wake-up latencies of tens of microseconds make timing alone miss the
narrow windows); or after a delay from the start, typically while the consumer is
blocked in a read.

From which thread:

``"consumer"``
    the consumer itself calls ``abort()`` at the trip point (re-entrant: the listeners
    run inside the consumer's own call stack, as from a signal handler);
``"other"``
    a real second thread, woken at the trip point, aborts ``offset`` seconds later while
    the consumer goes on (or, with ``hold``, waits there until the trip is done);
``"signal_handler"``
    a ``SIGALRM`` handler (``signal.setitimer``, armed at the trip point) aborts on the main
    thread, which is the consumer: the trip lands wherever the interpreter next runs
    signal handlers, abortkit's code included. Main thread only.

The consumer (the code under test) is a ``body(signal, checkpoints)`` function, sync or
``async def``. It calls ``checkpoints("label")`` at interesting points, hands each item it
receives to ``checkpoints.deliver(item)``, and may call ``checkpoints.report_abort()`` if it
handles an abort itself instead of letting ``AbortError`` out.

What is checked (``RaceResult.check``), and why the verdicts are sound
----------------------------------------------------------------------
Every observation behind a verdict is made *by the consumer, in program order*, so no
check compares timestamps taken on different threads (only the latency bound uses time):

* **No abort lost.** If, on leaving a checkpoint of the work (any label not in
  ``after_work`` or ``either_way``), the consumer saw that ``abort()`` had already
  *returned*, then every later abort check of the consumer sees the signal tripped, so the
  body must end with ``AbortError`` (or ``report_abort()``).
* **No abort invented.** ``AbortError`` (or ``report_abort()``) when no trip had started
  before the body exited, or when the consumer had passed an ``after_work`` checkpoint
  before the trip started, is a lie: the work was complete. An ``AbortError`` must carry
  the trip's reason.
* **Nothing after the abort.** Items delivered after ``abort()`` had returned: at most one
  (the item the consumer already held when the trip landed; the check for the next one
  must fail).
* **Prompt unwind.** From the trip's start to the body's exit (or to its first
  ``after_work`` checkpoint) at most ``max_unwind``; ``abort()`` itself just as fast.
  The default bound is loose (1 s): on a loaded machine a runnable thread can wait
  hundreds of milliseconds for a CPU, and the check is there to catch hangs and blocked
  reads nobody woke (make the stream's gap longer than the bound), not to time anything.
* **No listener after the work.** The signal records every listener run (a subclass of
  ``AbortSignal`` that wraps callbacks: no hook in abortkit itself). A listener that starts,
  or is still running, once the consumer has passed an ``after_work`` checkpoint or
  exited, breaks the "after exit, nothing of ours runs" promise. After the body exits the
  harness always trips the signal (if the plan has not yet), to flush out listeners that
  were left registered.
* **Nothing left behind.** No listener registered at exit; no new thread and no new file
  descriptor after a short settle time.
* **No other failure.** Any exception other than ``AbortError``, a body that does not end
  within ``timeout``, ``abort()`` raising or blocking.

The harness costs abortkit nothing when unused: it lives here, and only wraps the signal
it creates.
"""

from __future__ import annotations

import asyncio
import inspect
import signal as _signals
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal, cast, get_args

from hypothesis import strategies as st

from .._errors import AbortError
from .._signal import AbortController, AbortSignal, ListenerRegistration
from .._validate import is_finite as _is_finite
from .._validate import is_number as _is_number
from .._validate import type_name as _type_name
from ._resources import leftovers, live_threads, open_fds

__all__ = [
    "Checkpoints",
    "Delivered",
    "ListenerRun",
    "RaceHung",
    "RacePlan",
    "RaceResult",
    "Reached",
    "TripThread",
    "bytecode_steps",
    "race_plans",
    "run_race",
    "signal_handler_trips_available",
    "trip_delays",
    "trip_points",
    "trip_threads",
]

_HERE = __file__  # frames of this module are never traced or counted

TripThread = Literal["consumer", "other", "signal_handler"]
_TRIP_THREADS: tuple[str, ...] = get_args(TripThread)

# How long a "hold" waits for the trip beyond its offset. The held consumer may be paused
# inside a critical section the listener needs (a stream's lock, when ``steps`` stops it
# mid-read): then the trip can only finish once the consumer goes on, so the hold gives
# up rather than deadlock. A trip that never finishes is caught by the abort() checks.
_HOLD_PATIENCE = 0.02
# Pure spinning below this; sleeping (then spinning the rest) above it.
_SPIN_LIMIT = 0.002


# -- plans and strategies --------------------------------------------------------------------


@dataclass(frozen=True)
class RacePlan:
    """When the signal trips and from which thread.

    ``at``: a checkpoint label, ``"label"`` (its first arrival) or ``"label:n"`` (its n-th
    arrival, from 1); None: ``offset`` counts from the start of the body instead.
    ``offset``: seconds between reaching ``at`` and the trip.
    ``hold``: the consumer waits at the trip point until the trip is done (bounded),
    making the trip land exactly there; without it the consumer goes on and the trip
    lands wherever the consumer is ``offset`` later. Always true in effect for
    ``"consumer"``.
    ``steps``: move the trip point from the checkpoint to the ``steps``-th bytecode the
    consumer thread executes after it (through ``sys.settrace`` opcode events, harness
    frames not counted). This reaches every point *inside* abortkit's code
    deterministically, which timing alone (wake-up latencies are tens of microseconds)
    almost never does; it models a preemption or signal at any bytecode, as on CPython
    3.10 or a free-threaded build. Needs ``at``.
    If the body ends before the trip point, the signal trips after the body exits.
    """

    thread: TripThread = "other"
    at: str | None = None
    offset: float = 0.0
    hold: bool = False
    steps: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.thread, str):
            raise TypeError(f"RacePlan thread must be a str, one of {_TRIP_THREADS}, not {_type_name(self.thread)}")
        if self.thread not in _TRIP_THREADS:
            raise ValueError(f"RacePlan thread must be one of {_TRIP_THREADS}, not {self.thread!r}")
        if self.at is not None and not isinstance(self.at, str):
            raise TypeError(f"RacePlan at must be a checkpoint label (a str) or None, not {_type_name(self.at)}")
        if not _is_number(self.offset):
            raise TypeError(f"RacePlan offset must be a number of seconds, not {_type_name(self.offset)}")
        if not self.offset >= 0:
            raise ValueError(f"RacePlan offset must be >= 0 seconds, not {self.offset!r}")
        if not _is_finite(self.offset):
            raise ValueError(f"RacePlan offset must be a finite number of seconds, not {self.offset!r}")
        if not isinstance(self.hold, bool):
            raise TypeError(f"RacePlan hold must be a bool, not {_type_name(self.hold)}")
        if self.at is not None:
            _parse_point(self.at)
        if self.steps is not None:
            if isinstance(self.steps, bool) or not isinstance(self.steps, int):
                raise TypeError(f"RacePlan steps must be an int >= 0 or None, not {_type_name(self.steps)}")
            if self.steps < 0:
                raise ValueError(f"RacePlan steps must be an int >= 0 or None, not {self.steps!r}")
            if self.at is None:
                raise ValueError("RacePlan steps count from a checkpoint: give `at` too")

    @property
    def target(self) -> tuple[str, int] | None:
        """``(label, n)`` of the checkpoint arrival that trips, or None for a delay plan."""
        return None if self.at is None else _parse_point(self.at)

    def __str__(self) -> str:
        where = "from the start" if self.at is None else f"at {self.at!r}"
        if self.steps is not None:
            where += f" + {self.steps} bytecodes"
        hold = " (held)" if self.hold else ""
        return f"trip {self.offset * 1e6:.0f} us {where} from {self.thread}{hold}"


def _labels(name: str, labels: object) -> tuple[str, ...]:
    """``labels`` as a tuple, checked to be a collection of checkpoint labels (str), not one label."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise TypeError(f"{name} must be a collection of checkpoint labels (str), not {_type_name(labels)}")
    checked = tuple(labels)
    for label in checked:
        if not isinstance(label, str):
            raise TypeError(f"{name} must hold checkpoint labels (str), got {label!r}")
    return checked


def _check_seconds(name: str, value: object, *, zero_ok: bool = True, none_ok: bool = False) -> None:
    if none_ok and value is None:
        return
    if not _is_number(value):
        wanted = "a number of seconds or None" if none_ok else "a number of seconds"
        raise TypeError(f"{name} must be {wanted}, not {_type_name(value)}")
    seconds = cast(float, value)
    if not (_is_finite(seconds) and (seconds >= 0 if zero_ok else seconds > 0)):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")


def _parse_point(point: str) -> tuple[str, int]:
    if not isinstance(point, str):
        raise TypeError(f"a checkpoint label must be a str, not {_type_name(point)}")
    label, sep, count = point.rpartition(":")
    if sep and count.isdigit() and label:
        if int(count) < 1:
            raise ValueError(f"checkpoint arrival counts start at 1: {point!r}")
        return label, int(count)
    if not point:
        raise ValueError("a checkpoint label must not be empty")
    return point, 1


def signal_handler_trips_available() -> bool:
    """Whether ``"signal_handler"`` trips can run here: POSIX ``setitimer``, on the main thread."""
    return hasattr(_signals, "setitimer") and threading.current_thread() is threading.main_thread()


def trip_threads(*, signal_handler: bool | None = None) -> st.SearchStrategy[TripThread]:
    """Which thread trips: ``"consumer"``, ``"other"`` and, where possible, ``"signal_handler"``.

    ``signal_handler=None`` includes it when :func:`signal_handler_trips_available` is true
    where the strategy is built (a test module, imported on the main thread); True demands it.
    """
    if signal_handler is not None and not isinstance(signal_handler, bool):
        raise TypeError(f"trip_threads() signal_handler must be a bool or None, not {type(signal_handler).__name__}")
    available = signal_handler_trips_available()
    if signal_handler is None:
        signal_handler = available
    elif signal_handler and not available:
        raise ValueError("signal_handler trips need signal.setitimer and the main thread")
    choices: list[TripThread] = ["consumer", "other"]
    if signal_handler:
        choices.append("signal_handler")
    return st.sampled_from(choices)


def _microseconds(max_seconds: float) -> st.SearchStrategy[float]:
    if not _is_number(max_seconds):
        raise TypeError(f"a maximum delay must be a number of seconds, not {_type_name(max_seconds)}")
    if not max_seconds >= 0:
        raise ValueError(f"a maximum delay must be >= 0 seconds, not {max_seconds!r}")
    if not _is_finite(max_seconds):
        raise ValueError(f"a maximum delay must be a finite number of seconds, not {max_seconds!r}")
    # Integers shrink towards 0, i.e. towards "exactly at the point": the simplest failure.
    return st.integers(0, round(max_seconds * 1e6)).map(lambda us: us / 1e6)


def trip_points(labels: Sequence[str], *, max_offset: float = 200e-6) -> st.SearchStrategy[tuple[str, float]]:
    """``(label, offset)``: a checkpoint of the consumer's work, and 0..``max_offset`` s after it.

    ``labels`` may name the n-th arrival (``"mid_iteration:3"``).
    """
    points = list(_labels("trip_points() labels", labels))
    if not points:
        raise ValueError("trip_points() needs at least one checkpoint label")
    for point in points:
        _parse_point(point)
    return st.tuples(st.sampled_from(points), _microseconds(max_offset))


def trip_delays(max_seconds: float) -> st.SearchStrategy[float]:
    """A delay from the start of the body, 0..``max_seconds``, with microsecond resolution."""
    return _microseconds(max_seconds)


def bytecode_steps(max_steps: int) -> st.SearchStrategy[int]:
    """0..``max_steps``, log-uniform: as likely 5..8 as 500..800 bytecodes after the checkpoint.

    The code right after a checkpoint (the library call it precedes) is where the narrow
    windows are; a uniform draw would spend almost every example far past them.
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise TypeError(f"bytecode_steps() max_steps must be an int, not {_type_name(max_steps)}")
    if max_steps < 0:
        raise ValueError(f"bytecode_steps() max_steps must be >= 0, not {max_steps!r}")
    return st.integers(0, max_steps.bit_length()).flatmap(lambda bits: st.integers(0, min(max_steps, (1 << bits) - 1)))


def race_plans(
    labels: Sequence[str] = (),
    *,
    max_offset: float = 200e-6,
    max_delay: float = 0.0,
    max_steps: int = 0,
    threads: st.SearchStrategy[TripThread] | None = None,
    hold: bool | None = None,
) -> st.SearchStrategy[RacePlan]:
    """Plans tripping at ``labels`` (+ an offset) and/or after a delay of up to ``max_delay`` s.

    ``max_steps`` > 0: plans at a label may also move their trip point up to that many
    bytecodes further (see ``RacePlan.steps``). ``threads``: default :func:`trip_threads`.
    ``hold``: None lets Hypothesis choose.
    """
    labels = _labels("race_plans() labels", labels)
    if isinstance(max_steps, bool) or not isinstance(max_steps, int):
        raise TypeError(f"race_plans() max_steps must be an int, not {_type_name(max_steps)}")
    if max_steps < 0:
        raise ValueError(f"race_plans() max_steps must be >= 0, not {max_steps!r}")
    if not _is_number(max_delay):
        raise TypeError(f"race_plans() max_delay must be a number of seconds, not {_type_name(max_delay)}")
    if threads is not None and not isinstance(threads, st.SearchStrategy):
        raise TypeError(f"race_plans() threads must be a Hypothesis strategy or None, not {_type_name(threads)}")
    if hold is not None and not isinstance(hold, bool):
        raise TypeError(f"race_plans() hold must be a bool or None, not {_type_name(hold)}")
    thread_choice = trip_threads() if threads is None else threads
    holds = st.booleans() if hold is None else st.just(hold)
    steps: st.SearchStrategy[int | None] = st.none()
    if max_steps > 0:
        steps = st.one_of(st.none(), bytecode_steps(max_steps))
    options: list[st.SearchStrategy[RacePlan]] = []
    if labels:
        points = trip_points(labels, max_offset=max_offset)

        @st.composite
        def at_points(draw: st.DrawFn) -> RacePlan:
            point, offset = draw(points)
            return RacePlan(thread=draw(thread_choice), at=point, offset=offset, hold=draw(holds), steps=draw(steps))

        options.append(at_points())
    if max_delay > 0:
        delays = trip_delays(max_delay)

        @st.composite
        def after_delays(draw: st.DrawFn) -> RacePlan:
            return RacePlan(thread=draw(thread_choice), offset=draw(delays))

        options.append(after_delays())
    if not options:
        raise ValueError("race_plans() needs checkpoint labels or a max_delay > 0")
    return st.one_of(options)


# -- what the run records ----------------------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """One arrival at a checkpoint, as the consumer saw it."""

    label: str
    count: int
    at: float
    """``time.monotonic()`` on arrival."""
    trip_started: bool
    """Whether the trip had started when the consumer arrived."""
    trip_done: bool
    """Whether ``abort()`` had returned when the consumer left (after a trip planned here)."""


@dataclass(frozen=True)
class Delivered:
    """One item the consumer handed over."""

    at: float
    item: object
    after_trip: bool
    """Whether ``abort()`` had already returned when the item was delivered."""


@dataclass
class ListenerRun:
    """One run of a listener registered on the race's signal."""

    callback: str
    thread: str
    started_at: float
    after_work_at_start: bool
    """The consumer had passed an ``after_work`` checkpoint (or exited) when it started."""
    ended_at: float | None = None
    after_work_at_end: bool = False
    """... when it ended: it was still running after the work was over."""


class RaceHung(BaseException):
    """Raised into a main-thread body that overran ``timeout`` (a ``BaseException``:
    abortkit never translates it, and ``except Exception`` does not swallow it)."""


class _TripReason:
    """The abort reason of a race: ``AbortError.reason`` must be this very object."""

    __slots__ = ("plan",)

    def __init__(self, plan: RacePlan) -> None:
        self.plan = plan

    def __repr__(self) -> str:
        return f"<race trip: {self.plan}>"


# -- the instrumented signal -----------------------------------------------------------------------


class _Watched:
    """A listener wrapper that records when and where the callback runs."""

    __slots__ = ("__wrapped__", "_race")

    def __init__(self, race: _Race, callback: Callable[[], object]) -> None:
        self._race = race
        self.__wrapped__ = callback

    def __call__(self) -> object:
        race = self._race
        run = ListenerRun(
            callback=_describe(self.__wrapped__),
            thread=threading.current_thread().name,
            started_at=time.monotonic(),
            after_work_at_start=race.work_finished,
        )
        race.listener_runs.append(run)
        try:
            return self.__wrapped__()
        finally:
            run.after_work_at_end = race.work_finished
            run.ended_at = time.monotonic()

    def __repr__(self) -> str:
        return f"<watched {self.__wrapped__!r}>"


def _describe(callback: Callable[[], object]) -> str:
    name = getattr(callback, "__qualname__", None)
    return name if isinstance(name, str) else type(callback).__qualname__


class _WatchedSignal(AbortSignal):
    """An ``AbortSignal`` whose listeners are recorded; otherwise exactly the real thing."""

    __slots__ = ("_race",)

    def __init__(self, race: _Race) -> None:
        super().__init__()
        self._race = race

    def add_listener(self, callback: Callable[[], object], *, once: bool = True) -> ListenerRegistration:
        if not callable(callback):
            return super().add_listener(callback, once=once)  # raises the usual TypeError
        return super().add_listener(_Watched(self._race, callback), once=once)


class _RaceController(AbortController):
    __slots__ = ()

    def __init__(self, signal: AbortSignal) -> None:  # the signal is ours, not a fresh one
        self._signal = signal


# -- the run -----------------------------------------------------------------------------------


def _pause(seconds: float) -> None:
    """Wait ``seconds`` precisely, letting other threads run (sleep(0) drops the GIL)."""
    if seconds <= 0:
        return
    deadline = time.perf_counter() + seconds
    if seconds > _SPIN_LIMIT:
        time.sleep(seconds - _SPIN_LIMIT / 2)
    while time.perf_counter() < deadline:
        time.sleep(0)


class _Race:
    """The state shared by the consumer, the tripper, the signal handler and the listeners.

    Fields written on one thread and read on another are plain attributes written once
    (or flags flipped one way), which CPython makes visible in program order: no lock, so
    a signal handler can touch them at any bytecode.
    """

    def __init__(
        self, plan: RacePlan, after_work: Collection[str], either_way: Collection[str], timeout: float
    ) -> None:
        self.plan = plan
        self.after_work = frozenset(after_work)
        self.either_way = frozenset(either_way)
        self.timeout = timeout
        self.reason = _TripReason(plan)
        self.signal = _WatchedSignal(self)
        self.controller = _RaceController(self.signal)
        self._token = [True]  # list.pop is atomic: exactly one trip, even from a signal handler
        self.trip_started_at: float | None = None
        self.trip_done_at: float | None = None
        self.trip_thread: str | None = None
        self.trip_error: BaseException | None = None
        self.armed = False
        self.hold_gave_up = False
        self.work_finished = False
        self.in_body = False
        self.hung = False
        self.reported_abort = False
        self.started_at = 0.0
        self.exited_at: float | None = None
        self.value: object = None
        self.error: BaseException | None = None
        self.listeners_before = self.signal.listener_count
        self.listeners_at_exit: int | None = None
        self.reached: list[Reached] = []
        self.items: list[Delivered] = []
        self.listener_runs: list[ListenerRun] = []
        self._counts: dict[str, int] = {}
        self._delay_deadline = 0.0
        # "other": the tripper waits for point_reached, the held consumer for tripped.
        self.point_reached = threading.Event()
        self.tripped = threading.Event()
        # "signal_handler"
        self.timer_armed = False
        self.stop_watchdog = threading.Event()
        # steps: tracing the consumer thread's bytecodes after the checkpoint
        self._stepping = False
        self._steps_left = 0
        self._previous_trace: Any = None
        self._traced_frames: list[FrameType] = []
        # The race owns its trace functions, made once: CPython 3.11 calls the global trace
        # function through a borrowed reference, so if ``sys.settrace`` dropped the last
        # reference to it from inside a trace event (the countdown can end in a weakref
        # callback that runs while CPython is about to call that very function), the call
        # would use freed memory and crash the process. A bound method made afresh at each
        # ``sys.settrace(self._trace_global)`` has no other owner: this attribute is one.
        self._global_tracer = self._trace_global
        self._local_tracer = self._trace_local

    # -- tripping --------------------------------------------------------------------------
    def trip(self, via: str) -> None:
        try:
            self._token.pop()
        except IndexError:
            return
        self.trip_thread = via
        self.trip_started_at = time.monotonic()
        try:
            self.controller.abort(self.reason)
        except BaseException as exc:  # the harness's own trip must not inject anything
            self.trip_error = exc
        finally:
            self.trip_done_at = time.monotonic()

    def run_tripper(self) -> None:
        """The "other" thread: wait for the point (or the start, or the end), then trip."""
        if not self.point_reached.wait(self.timeout * 2 + 10):
            return
        if self.exited_at is None:
            _pause(self.plan.offset)
        self.trip("other thread")
        self.tripped.set()

    def _arm_timer(self, delay: float) -> None:
        self.timer_armed = True
        _signals.setitimer(_signals.ITIMER_REAL, max(delay, 1e-6))

    def on_sigalrm(self, signum: int, frame: FrameType | None) -> None:
        if self.hung and self.in_body:
            raise RaceHung(f"the body did not finish within {self.timeout:g} s")
        if self.timer_armed:
            self.timer_armed = False
            self.trip("signal handler on the main thread")

    def run_watchdog(self, main_ident: int) -> None:
        # Keep the timer's SIGALRM off this thread: it must interrupt the consumer.
        _signals.pthread_sigmask(_signals.SIG_BLOCK, {_signals.SIGALRM})
        if self.stop_watchdog.wait(self.timeout):
            return
        self.hung = True
        while not self.stop_watchdog.is_set():
            _signals.pthread_kill(main_ident, _signals.SIGALRM)
            self.stop_watchdog.wait(1.0)

    # -- what the consumer calls -------------------------------------------------------------
    def checkpoint(self, label: str) -> None:
        arrived = time.monotonic()
        started = self.trip_started_at is not None
        count = self._counts.get(label, 0) + 1
        self._counts[label] = count
        if label in self.after_work:
            self.work_finished = True
        steps: int | None = None
        if not self.armed:
            if self.plan.at is None:
                self._trip_if_due(arrived)
            elif self.plan.target == (label, count):
                self.armed = True
                steps = self.plan.steps
                if steps is None:
                    self._fire()
        self.reached.append(Reached(label, count, arrived, started, self.trip_done_at is not None))
        if steps is not None:
            self._start_stepping(steps)  # last: nothing of the harness is counted

    def deliver(self, item: object) -> None:
        self.items.append(Delivered(time.monotonic(), item, self.trip_done_at is not None))
        if not self.armed and self.plan.at is None:
            self._trip_if_due(time.monotonic())

    def _trip_if_due(self, now: float) -> None:
        # A delay plan from the consumer's own thread can only trip where the consumer is.
        if self.plan.thread == "consumer" and now >= self._delay_deadline:
            self.armed = True
            self.trip("consumer (re-entrant)")

    def _fire(self) -> None:
        plan = self.plan
        if plan.thread == "consumer":
            _pause(plan.offset)
            self.trip("consumer (re-entrant)")
        elif plan.thread == "other":
            self.point_reached.set()
            if plan.hold and not self.tripped.wait(plan.offset + _HOLD_PATIENCE):
                self.hold_gave_up = True
        else:
            self._arm_timer(plan.offset)
            if plan.hold:
                limit = time.monotonic() + plan.offset + _HOLD_PATIENCE
                while self.trip_done_at is None:
                    if time.monotonic() > limit:
                        self.hold_gave_up = True
                        break
                    time.sleep(20e-6)  # the handler runs here

    # -- steps: the trip point moved into the bytecode that follows the checkpoint ----------------
    def _start_stepping(self, steps: int) -> None:
        if steps == 0:
            self._fire()
            return
        self._steps_left = steps
        self._previous_trace = sys.gettrace()
        # The frames already running (the body's, and abortkit's if the body is called
        # from inside it) count too: trace them from their next bytecode on.
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename != _HERE:
                frame.f_trace = self._local_tracer
                frame.f_trace_opcodes = True
                self._traced_frames.append(frame)
            frame = frame.f_back
        self._stepping = True
        sys.settrace(self._global_tracer)

    def _trace_global(self, frame: FrameType, event: str, arg: object) -> Any:
        # Not counted: the harness, and what it calls directly (dataclass __init__s...).
        caller = frame.f_back
        if not self._stepping or _HERE in (frame.f_code.co_filename, caller and caller.f_code.co_filename):
            return None
        frame.f_trace_opcodes = True
        return self._local_tracer

    def _trace_local(self, frame: FrameType, event: str, arg: object) -> Any:
        if not self._stepping:
            return None
        if event == "opcode":
            self._steps_left -= 1
            if self._steps_left <= 0:
                self._stop_stepping()
                self._fire()  # tracing is off inside a trace function: the trip is not traced
                return None
        return self._local_tracer

    def _stop_stepping(self) -> None:
        if not self._stepping:
            return
        self._stepping = False
        sys.settrace(self._previous_trace)
        for frame in self._traced_frames:
            frame.f_trace = None
            frame.f_trace_opcodes = False
        self._traced_frames = []

    # -- the body ------------------------------------------------------------------------------
    def run_body(self, body: Callable[[AbortSignal, Checkpoints], object]) -> None:
        checkpoints = Checkpoints(self)
        self.started_at = time.monotonic()
        self.in_body = True
        try:
            if self.plan.at is None:
                self.armed = self.plan.thread != "consumer"
                if self.plan.thread == "consumer":
                    self._delay_deadline = self.started_at + self.plan.offset
                elif self.plan.thread == "other":
                    self.point_reached.set()
                else:
                    self._arm_timer(self.plan.offset)
            result = body(self.signal, checkpoints)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            self.value = result
        except BaseException as exc:
            self.error = exc
        finally:
            self._stop_stepping()  # the body ended before the trip point
            self.in_body = False
            self.exited_at = time.monotonic()
            self.work_finished = True
            self.listeners_at_exit = self.signal.listener_count


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable


class Checkpoints:
    """What the harness hands the body, next to the signal.

    ``checkpoints("label")`` marks a point of the consumer's work (where a plan can trip);
    ``deliver(item)`` hands over each item as soon as the consumer receives it;
    ``report_abort()`` says the body noticed the abort and handled it itself.
    Call them from the consumer's own thread (or its event loop): the checks rely on the
    consumer's program order.
    """

    __slots__ = ("_race",)

    def __init__(self, race: _Race) -> None:
        self._race = race

    def __call__(self, label: str) -> None:
        self._race.checkpoint(label)

    def deliver(self, item: object) -> None:
        self._race.deliver(item)

    def report_abort(self) -> None:
        self._race.reported_abort = True

    @property
    def items(self) -> list[object]:
        """The items delivered so far."""
        return [delivered.item for delivered in self._race.items]


def run_race(
    body: Callable[[AbortSignal, Checkpoints], object],
    plan: RacePlan,
    *,
    timeout: float = 10.0,
    after_work: Collection[str] = ("after_exit",),
    either_way: Collection[str] = (),
    settle: float = 1.0,
    check_fds: bool = True,
    ignore_threads: Collection[str] = ("abortkit-timeouts",),
    switch_interval: float | None = 1e-5,
) -> RaceResult:
    """Run ``body(signal, checkpoints)`` once, tripping a fresh signal as ``plan`` says.

    ``body`` runs on a new thread, or on this (main) thread for ``"signal_handler"`` plans;
    an ``async def`` body runs in ``asyncio.run``. ``timeout``: how long the body may take.
    ``after_work``: labels the body reaches once its abortable work is over (typically
    right after the ``with`` block or the call): a trip that starts after them must not
    end in ``AbortError``, and no listener may run after them. ``either_way``: labels
    where the result is already complete although the work is not over, so that a trip
    seen there may end either way (``close_on_abort`` over an HTTP response that was
    read to its end and released: see its docstring); a trip seen at any other label
    must end in ``AbortError``. ``settle``: how long new threads and fds
    get to go away. ``ignore_threads``: names of shared, lazily started threads (the
    timeout thread) that are not leaks. ``switch_interval``: ``sys.setswitchinterval``
    during the run (restored after): a short one makes threads interleave far more finely
    than the default 5 ms; None leaves it alone.

    A ``"signal_handler"`` plan takes over ``SIGALRM`` and the real-time interval timer
    for the run and then restores both (pytest-timeout's signal method keeps working).
    Call it from synchronous test code: an ``async def`` body gets its own event loop.
    """
    # Everything is checked before anything runs (no thread, no timer, no switch interval).
    if not callable(body):
        raise TypeError(f"run_race() body must be callable as body(signal, checkpoints), not {_type_name(body)}")
    if not isinstance(plan, RacePlan):
        raise TypeError(f"run_race() plan must be a RacePlan, not {_type_name(plan)}")
    _check_seconds("run_race() timeout", timeout, zero_ok=False)
    _check_seconds("run_race() settle", settle)
    _check_seconds("run_race() switch_interval", switch_interval, zero_ok=False, none_ok=True)
    after_work = _labels("run_race() after_work", after_work)
    either_way = _labels("run_race() either_way", either_way)
    if not isinstance(check_fds, bool):
        raise TypeError(f"run_race() check_fds must be a bool, not {_type_name(check_fds)}")
    if isinstance(ignore_threads, (str, bytes)) or not isinstance(ignore_threads, Iterable):
        raise TypeError(
            f"run_race() ignore_threads must be a collection of thread names, not {_type_name(ignore_threads)}"
        )
    ignore_threads = tuple(ignore_threads)
    if plan.thread == "signal_handler" and not signal_handler_trips_available():
        raise RuntimeError("signal_handler trips need signal.setitimer and must run on the main thread")
    threads_before = live_threads(ignore_threads)
    fds_before = open_fds() if check_fds else None
    race = _Race(plan, after_work, either_way, timeout)
    old_interval = sys.getswitchinterval()
    if switch_interval is not None:
        sys.setswitchinterval(switch_interval)
    try:
        if plan.thread == "signal_handler":
            _run_on_main_thread(race, body)
        else:
            _run_on_new_thread(race, body)
    finally:
        sys.setswitchinterval(old_interval)
    new_threads, new_fds = leftovers(threads_before, fds_before, ignore_threads=ignore_threads, settle=settle)
    return RaceResult(race, new_threads, new_fds if check_fds else None)


def _run_on_new_thread(race: _Race, body: Callable[[AbortSignal, Checkpoints], object]) -> None:
    tripper: threading.Thread | None = None
    if race.plan.thread == "other":
        tripper = threading.Thread(target=race.run_tripper, name="abortkit-race-tripper", daemon=True)
        tripper.start()
    consumer = threading.Thread(target=race.run_body, args=(body,), name="abortkit-race-consumer", daemon=True)
    consumer.start()
    consumer.join(race.timeout)
    if consumer.is_alive():
        race.hung = True
    # Trip now if the plan has not: listeners left registered show up, and a hung
    # consumer blocked on the stream may be released.
    if tripper is not None:
        race.point_reached.set()
        tripper.join(race.timeout)
    else:
        race.trip("harness, after the body")
    if consumer.is_alive():
        consumer.join(1.0)


def _run_on_main_thread(race: _Race, body: Callable[[AbortSignal, Checkpoints], object]) -> None:
    installed_at = time.monotonic()
    previous_handler = _signals.signal(_signals.SIGALRM, race.on_sigalrm)
    previous_timer = _signals.setitimer(_signals.ITIMER_REAL, 0)
    watchdog = threading.Thread(
        target=race.run_watchdog, args=(threading.get_ident(),), name="abortkit-race-watchdog", daemon=True
    )
    watchdog.start()
    try:
        race.run_body(body)
    finally:
        race.stop_watchdog.set()
        watchdog.join()
        _signals.setitimer(_signals.ITIMER_REAL, 0)
        # A SIGALRM already generated may not have reached the handler yet: let it land on
        # ours (which then trips, or ignores it) rather than on the handler we restore.
        time.sleep(0.001)
        race.timer_armed = False
        race.trip("harness, after the body")
        _signals.signal(_signals.SIGALRM, _signals.SIG_DFL if previous_handler is None else previous_handler)
        remaining, interval = previous_timer
        if remaining > 0:
            elapsed = time.monotonic() - installed_at
            _signals.setitimer(_signals.ITIMER_REAL, max(remaining - elapsed, 1e-3), interval)


# -- the verdict ---------------------------------------------------------------------------------

Outcome = Literal["returned", "aborted", "error", "hung"]


class RaceResult:
    """What one race did, and :meth:`check` to hold it to abortkit's invariants."""

    def __init__(self, race: _Race, new_threads: list[str], new_fds: dict[int, str] | None) -> None:
        self.plan = race.plan
        self.reason: object = race.reason
        self.value = race.value
        self.error = race.error
        self.reported_abort = race.reported_abort
        self.started_at = race.started_at
        self.exited_at = race.exited_at
        self.trip_started_at = race.trip_started_at
        self.trip_done_at = race.trip_done_at
        self.trip_thread = race.trip_thread
        self.trip_error = race.trip_error
        self.hold_gave_up = race.hold_gave_up
        self.timeout = race.timeout
        self.after_work = race.after_work
        self.either_way = race.either_way
        self.reached = list(race.reached)
        self.items = list(race.items)
        self.listener_runs = list(race.listener_runs)
        self.listeners_before = race.listeners_before
        self.listeners_at_exit = race.listeners_at_exit
        self.new_threads = new_threads
        self.new_fds = new_fds
        self.outcome: Outcome
        if race.hung or race.exited_at is None:
            self.outcome = "hung"
        elif isinstance(race.error, AbortError) or (race.error is None and race.reported_abort):
            self.outcome = "aborted"
        elif race.error is not None:
            self.outcome = "error"
        else:
            self.outcome = "returned"

    # -- derived facts ---------------------------------------------------------------------------
    @property
    def work_done_before_trip(self) -> bool:
        """The consumer passed an ``after_work`` checkpoint before the trip started."""
        return any(r.label in self.after_work and not r.trip_started for r in self.reached)

    @property
    def tripped_during_body(self) -> bool:
        """The trip started before the body exited."""
        return self.trip_started_at is not None and self.exited_at is not None and self.trip_started_at < self.exited_at

    @property
    def unwind_latency(self) -> float | None:
        """Seconds from the trip's start to the body's exit (or its first ``after_work``
        checkpoint after the trip), when the trip started during the work; else None."""
        start = self.trip_started_at
        if start is None or self.exited_at is None or self.work_done_before_trip:
            return None
        if start >= self.exited_at:
            return None
        ends = [r.at for r in self.reached if r.label in self.after_work and r.at >= start]
        return min([*ends, self.exited_at]) - start

    @property
    def late_items(self) -> list[Delivered]:
        """Items delivered after ``abort()`` had returned."""
        return [item for item in self.items if item.after_trip]

    # -- the checks --------------------------------------------------------------------------------
    def violations(self, *, max_unwind: float = 1.0) -> list[str]:
        """Every broken invariant, one sentence each (empty: the race went right)."""
        found: list[str] = []
        if self.outcome == "hung":
            found.append(f"the body did not finish within {self.timeout:g} s")
        if self.trip_started_at is None:
            found.append("the harness never tripped the signal (harness bug)")
        if self.trip_error is not None:
            found.append(f"abort() raised {self.trip_error!r}")
        elif self.trip_started_at is not None and self.trip_done_at is None:
            found.append("abort() never returned")
        elif self.trip_started_at is not None and self.trip_done_at is not None:
            took = self.trip_done_at - self.trip_started_at
            if took > max_unwind:
                found.append(f"abort() took {took * 1e3:.1f} ms (bound {max_unwind * 1e3:.0f} ms)")

        if self.outcome == "error":
            assert self.error is not None
            when = "after the abort" if self.tripped_during_body else "with no abort"
            found.append(
                f"the body raised {type(self.error).__name__}: {self.error} {when} (only AbortError may leave it)"
            )
        if isinstance(self.error, AbortError) and self.error.reason is not self.reason:
            found.append(f"AbortError.reason is {self.error.reason!r}, not the trip's reason {self.reason!r}")

        if self.outcome == "aborted":
            how = "raised AbortError" if self.error is not None else "reported an abort"
            if not self.tripped_during_body:
                found.append(f"the body {how} but the signal had not tripped before it exited (abort invented)")
            elif self.work_done_before_trip:
                done = next(r for r in self.reached if r.label in self.after_work and not r.trip_started)
                found.append(
                    f"the body {how} but its work was over (checkpoint {done.label!r} passed) "
                    "before the trip started (abort invented)"
                )
        if self.outcome == "returned":
            lenient = self.after_work | self.either_way
            seen = [r for r in self.reached if r.label not in lenient and r.trip_done]
            if seen:
                found.append(
                    f"abort lost: abort() had returned when the consumer left checkpoint "
                    f"{seen[0].label!r}#{seen[0].count}, yet the body returned normally"
                )

        late = self.late_items
        if len(late) > 1:
            shown = ", ".join(repr(item.item) for item in late[:5])
            found.append(
                f"{len(late)} items delivered after abort() had returned ({shown}); "
                "at most the one already in flight may follow the abort"
            )

        latency = self.unwind_latency
        if latency is not None and latency > max_unwind:
            found.append(f"unwinding took {latency * 1e3:.1f} ms after the trip (bound {max_unwind * 1e3:.0f} ms)")

        if self.listeners_at_exit is not None and self.listeners_at_exit != self.listeners_before:
            found.append(
                f"{self.listeners_at_exit - self.listeners_before} listener(s) still registered when the body exited"
            )
        for run in self.listener_runs:
            if run.after_work_at_start:
                found.append(f"listener {run.callback} started after the work was over (on {run.thread})")
            elif run.ended_at is None:
                found.append(f"listener {run.callback} never finished (on {run.thread})")
            elif run.after_work_at_end:
                found.append(f"listener {run.callback} was still running after the work was over (on {run.thread})")

        if self.new_threads:
            found.append(f"threads left behind: {self.new_threads}")
        if self.new_fds:
            found.append(f"file descriptors left behind: {self.new_fds}")
        return found

    def check(self, *, max_unwind: float = 1.0) -> None:
        """Raise ``AssertionError`` naming every broken invariant, with the race's timeline."""
        found = self.violations(max_unwind=max_unwind)
        if found:
            problems = "\n".join(f"  - {problem}" for problem in found)
            raise AssertionError(f"race {self.plan} went wrong:\n{problems}\n{self.timeline()}")

    # -- reporting -----------------------------------------------------------------------------------
    def timeline(self) -> str:
        """The run's events in time order, in microseconds from the body's start."""
        events: list[tuple[float, str]] = []
        for r in self.reached:
            done = " (trip done)" if r.trip_done else " (trip started)" if r.trip_started else ""
            events.append((r.at, f"checkpoint {r.label}#{r.count}{done}"))
        for item in self.items:
            events.append((item.at, f"deliver {item.item!r}" + (" AFTER the trip" if item.after_trip else "")))
        if self.trip_started_at is not None:
            events.append((self.trip_started_at, f"trip starts ({self.trip_thread})"))
        if self.trip_done_at is not None:
            events.append((self.trip_done_at, "abort() returned"))
        for run in self.listener_runs:
            events.append((run.started_at, f"listener {run.callback} starts on {run.thread}"))
            if run.ended_at is not None:
                events.append((run.ended_at, f"listener {run.callback} ends"))
        if self.exited_at is not None:
            ending = self.outcome if self.error is None else f"{self.outcome}: {type(self.error).__name__}"
            events.append((self.exited_at, f"body exits ({ending})"))
        events.sort(key=lambda event: event[0])
        lines = [f"    {(at - self.started_at) * 1e6:10.0f} us  {what}" for at, what in events]
        return "  timeline:\n" + "\n".join(lines)

    def __repr__(self) -> str:
        return f"<RaceResult {self.outcome} {self.plan} items={len(self.items)}>"
