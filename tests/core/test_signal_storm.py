"""A storm of signal handlers landing at random bytecodes of the main thread.

``abort_on_sigint`` aborts a controller from inside a signal handler, which runs on the
main thread *between any two bytecodes* of whatever the main thread was doing: in the
middle of ``add_listener``, of ``remove()``, of ``abort()``'s drain, of a listener. The
signal module's lock-free design claims that this is safe. Here a helper thread sends
SIGUSR1 to the process thousands of times, at random moments (each one handled before
the next is sent, so none is coalesced), while the main thread creates controllers
(some children of others, some ``AbortSignal.any``), adds and removes listeners and
aborts; the handler aborts controllers, adds listeners and removes registrations, and
some listeners abort other controllers or remove registrations themselves.

Invariants, checked once the storm is over and every controller has been aborted:

* no deadlock (a ``faulthandler`` watchdog kills the run, and the sender gives up if a
  signal is not handled within seconds);
* every listener either ran exactly once or was removed by a ``remove()`` that
  returned True: never both, never neither, never twice;
* ``abort()`` is idempotent: for each controller at most one call returned True, and
  the signal's reason is that call's reason (or, for a child whose parent tripped it
  first, the parent's reason); nothing is left registered anywhere.
"""

from __future__ import annotations

import faulthandler
import itertools
import os
import random
import signal as signals
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from abortkit import AbortController, AbortSignal, ListenerRegistration

pytestmark = pytest.mark.skipif(not hasattr(signals, "SIGUSR1"), reason="needs POSIX signals")

WINDOW = 24  # operations pick among the most recent controllers and registrations


@dataclass
class Storm:
    rng: random.Random
    handler_rng: random.Random
    controllers: list[tuple[int, AbortController, int | None]] = field(default_factory=list)
    """(index, controller, index of the parent controller or None)"""
    any_signals: list[AbortSignal] = field(default_factory=list)
    registrations: list[tuple[int, ListenerRegistration]] = field(default_factory=list)
    ran: list[int] = field(default_factory=list)  # listener ids, appended when a listener runs
    removed: list[int] = field(default_factory=list)  # listener ids whose remove() returned True
    wins: list[tuple[int, Any]] = field(default_factory=list)  # (controller index, reason) per abort() -> True
    delivered: list[float] = field(default_factory=list)  # one entry per handled signal
    ids: Any = field(default_factory=itertools.count)
    reasons: Any = field(default_factory=itertools.count)
    counts: Counter[str] = field(default_factory=Counter)
    landed: Counter[str] = field(default_factory=Counter)
    """Where in abortkit the main thread was when a signal landed (function name)."""

    # -- operations (main thread, handler and listeners alike) -----------------------------
    def new_controller(self, rng: random.Random) -> None:
        parent_index: int | None = None
        parent: AbortSignal | None = None
        if self.controllers and rng.random() < 0.3:
            parent_index, parent_controller, _ = rng.choice(self.controllers[-WINDOW:])
            parent = parent_controller.signal
        index = len(self.controllers)
        # Append only once constructed: the handler may pick from the list at any moment.
        self.controllers.append((index, AbortController(parent=parent), parent_index))

    def new_any(self, rng: random.Random) -> None:
        recent = self.controllers[-WINDOW:]
        picked = [rng.choice(recent)[1].signal for _ in range(2)]
        combined = AbortSignal.any(picked)
        self.any_signals.append(combined)
        self.add_listener(rng, combined)

    def add_listener(self, rng: random.Random, target: AbortSignal | None = None) -> None:
        if target is None:
            target = rng.choice(self.controllers[-WINDOW:])[1].signal
        listener_id = next(self.ids)
        action = rng.random()

        def listener() -> None:
            self.ran.append(listener_id)
            if action < 0.1:
                self.abort(rng)  # re-entrant abort from inside a drain
            elif action < 0.15:
                self.remove(rng)  # a listener removing another (or itself)

        registration = target.add_listener(listener)
        self.registrations.append((listener_id, registration))

    def remove(self, rng: random.Random) -> None:
        recent = self.registrations[-WINDOW:]
        if recent:
            listener_id, registration = rng.choice(recent)
            if registration.remove():
                self.removed.append(listener_id)

    def abort(self, rng: random.Random) -> None:
        index, controller, _ = rng.choice(self.controllers[-WINDOW:])
        reason = ("reason", next(self.reasons))
        if controller.abort(reason):
            self.wins.append((index, reason))

    # -- the signal handler ---------------------------------------------------------------
    def on_signal(self, signum: int, frame: Any) -> None:
        if frame is not None and os.sep + "abortkit" + os.sep in frame.f_code.co_filename:
            self.landed[frame.f_code.co_name] += 1
        rng = self.handler_rng
        roll = rng.random()
        if roll < 0.4:
            self.abort(rng)
        elif roll < 0.75:
            self.add_listener(rng)
        else:
            self.remove(rng)
        self.delivered.append(time.monotonic())

    # -- the main thread's work -----------------------------------------------------------
    def step(self) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            self.add_listener(rng)
            self.counts["add"] += 1
        elif roll < 0.55:
            self.remove(rng)
            self.counts["remove"] += 1
        elif roll < 0.7:
            self.abort(rng)
            self.counts["abort"] += 1
        elif roll < 0.92:
            self.new_controller(rng)
            self.counts["new"] += 1
        else:
            self.new_any(rng)
            self.counts["any"] += 1


class Sender:
    """Sends SIGUSR1 to this process ``count`` times; each is handled before the next goes."""

    def __init__(self, storm: Storm, count: int, seed: int) -> None:
        self.storm = storm
        self.count = count
        self.rng = random.Random(seed)
        self.stalled = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, name="signal-storm-sender", daemon=True)

    def run(self) -> None:
        try:
            for sent in range(self.count):
                # A random pause, so the signal lands at a random point of the main thread's work.
                pause = self.rng.random() * 2e-4
                if pause > 1e-4:
                    time.sleep(pause)
                os.kill(os.getpid(), signals.SIGUSR1)
                deadline = time.monotonic() + 10.0
                while len(self.storm.delivered) <= sent:  # handled yet? (no coalescing)
                    if time.monotonic() > deadline:
                        self.stalled = True
                        return
                    time.sleep(0)
        finally:
            self.done.set()


def run_storm(signal_count: int, seed: int, watchdog_seconds: float) -> dict[str, Any]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run on the main thread only")
    storm = Storm(random.Random(seed), random.Random(seed + 1))
    for _ in range(8):
        storm.new_controller(storm.rng)
    sender = Sender(storm, signal_count, seed + 2)
    faulthandler.dump_traceback_later(watchdog_seconds, exit=True)  # a deadlock kills the run, loudly
    previous = signals.signal(signals.SIGUSR1, storm.on_signal)
    # The main thread never blocks: with the default 5 ms switch interval, every hand-over of
    # the GIL to the sender would cost 5 ms.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(5e-5)
    started = time.monotonic()
    try:
        sender.thread.start()
        while not sender.done.is_set():
            storm.step()
        sender.thread.join(10)
    finally:
        sys.setswitchinterval(switch_interval)
        signals.signal(signals.SIGUSR1, previous)
        faulthandler.cancel_dump_traceback_later()
    elapsed = time.monotonic() - started
    assert not sender.stalled, f"a signal was not handled within 10 s after {len(storm.delivered)} (deadlock?)"

    # The storm is over: trip everything, so every listener still registered must run now.
    for _index, controller, _parent in list(storm.controllers):
        reason = ("final", next(storm.reasons))
        if controller.abort(reason):
            storm.wins.append((_index, reason))

    figures = {
        "signals_delivered": len(storm.delivered),
        "seconds": round(elapsed, 2),
        "controllers": len(storm.controllers),
        "any_signals": len(storm.any_signals),
        "listeners": len(storm.registrations),
        "listeners_ran": len(storm.ran),
        "listeners_removed": len(storm.removed),
        "main_thread_ops": dict(storm.counts),
        "landed_in_abortkit": sum(storm.landed.values()),
        "landed_where": dict(storm.landed.most_common()),
    }
    print(f"\nsignal storm: {figures}")
    check_invariants(storm)
    return figures


def check_invariants(storm: Storm) -> None:
    runs = Counter(storm.ran)
    removals = Counter(storm.removed)
    for listener_id, registration in storm.registrations:
        ran, removed = runs[listener_id], removals[listener_id]
        assert (ran, removed) in ((1, 0), (0, 1)), (
            f"listener {listener_id} ran {ran} time(s) and was removed {removed} time(s): {registration!r}"
        )
        assert not registration.pending
        assert registration.ran == (ran == 1)
        assert not registration.remove(), "remove() returned True after the listener ran or was removed"
    assert len(runs) + len(removals) == len(storm.registrations)

    wins = Counter(index for index, _reason in storm.wins)
    reason_of_win = dict(storm.wins)
    for index, controller, parent_index in storm.controllers:
        signal = controller.signal
        assert signal.aborted
        assert signal.listener_count == 0, f"controller {index}: listeners left after the abort"
        assert wins[index] <= 1, f"controller {index}: abort() returned True {wins[index]} times"
        if wins[index]:
            assert signal.reason == reason_of_win[index], f"controller {index}: the first reason did not win"
        else:
            assert parent_index is not None, f"root controller {index} aborted without abort() returning True"
            parent = storm.controllers[parent_index][1].signal
            assert signal.reason == parent.reason, f"child {index} does not carry its parent's reason"
        assert not controller.abort("again")
    for combined in storm.any_signals:
        assert combined.aborted and combined.listener_count == 0


def test_signal_storm() -> None:
    figures = run_storm(signal_count=2_000, seed=20240601, watchdog_seconds=60)
    assert figures["signals_delivered"] >= 2_000
    # The storm reached abortkit's own code, not only the test's loop around it.
    assert figures["landed_in_abortkit"] >= 100, figures["landed_where"]


@pytest.mark.stress
@pytest.mark.timeout(900)
def test_signal_storm_stress() -> None:
    figures = run_storm(signal_count=10_000, seed=7, watchdog_seconds=600)
    assert figures["signals_delivered"] >= 10_000
    assert figures["landed_in_abortkit"] >= 500, figures["landed_where"]


def test_a_broken_invariant_would_be_seen() -> None:
    """The checker can fail: a listener that ran but is also reported removed is caught."""
    storm = Storm(random.Random(1), random.Random(2))
    storm.new_controller(storm.rng)
    storm.add_listener(storm.rng)
    storm.controllers[0][1].abort("x")
    storm.wins.append((0, "x"))
    check_invariants(storm)
    storm.removed.append(storm.registrations[0][0])
    with pytest.raises(AssertionError, match="ran 1 time"):
        check_invariants(storm)
