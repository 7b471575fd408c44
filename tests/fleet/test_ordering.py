"""A stop issued before, during or after the start of a watch is never lost.

The bus stores then publishes each stop, and arms a watch by subscribing, then (once
Redis confirmed the subscription) reading the stored stop (race analysis in
``abortkit/fleet/_engine.py``). "During" is pinned deterministically: a hook on the
watcher's bus thread issues the stop, and waits until Redis has it, at each point of
the watch's start (before its SUBSCRIBE is sent, after the confirmation, just before
the read). Then the same with random timing, across real processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from abortkit.fleet import RedisStopBus
from abortkit.fleet._engine import Engine

from ._support import HANG, wait_until
from ._worker import Worker, random_plan

Bus = Callable[..., RedisStopBus]


def test_a_stop_before_the_watch_is_read_from_its_key(make_bus: Bus, make_worker: Callable[..., Worker]) -> None:
    stopper = make_worker()
    assert stopper.stop("early", "before") is True  # stored and published: nobody listened
    watcher = make_bus()
    watch = watcher.watch("early")
    with watch as signal:
        assert signal.aborted and watch.armed  # by the time the watch is entered
        assert signal.reason.reason == "before"


def test_a_stop_after_the_watch_is_armed_arrives_by_message(make_bus: Bus, make_worker: Callable[..., Worker]) -> None:
    watcher, stopper = make_bus(), make_worker()
    watch = watcher.watch("late")
    with watch as signal:
        assert watch.armed and not signal.aborted  # its key was read: nothing there
        assert stopper.stop("late", "after") is True
        wait_until(lambda: signal.aborted, "the published stop")
        assert signal.reason.reason == "after"


@pytest.mark.parametrize("point", ["subscribe", "subscribed", "check"])
def test_a_stop_at_each_point_of_the_watch_start(make_bus: Bus, point: str) -> None:
    watcher, stopper = make_bus(), make_bus()
    stops: list[bool] = []

    def stop_now(*args: Any) -> None:  # on the watcher's bus thread: its next step waits
        if not stops:
            stops.append(stopper.stop("racy", point, timeout=None))

    _engine(watcher).hooks[point] = stop_now
    watch = watcher.watch("racy")
    with watch as signal:
        wait_until(lambda: signal.aborted, f"the stop issued at {point!r}")
        assert stops == [True]
        assert signal.reason.reason == point


def test_without_the_read_a_stop_just_before_the_subscription_is_lost(
    make_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above has teeth: drop what the read finds, and the stop issued right
    before the SUBSCRIBE goes unnoticed (the watch arms, and stays quiet)."""
    original = Engine.checked
    monkeypatch.setattr(Engine, "checked", lambda self, watches, values: original(self, watches, [None] * len(values)))
    watcher, stopper = make_bus(), make_bus()
    _engine(watcher).hooks["subscribe"] = lambda channels: stopper.stop("racy", "lost", timeout=None)
    watch = watcher.watch("racy")
    with watch as signal:
        wait_until(lambda: watch.armed, "the watch to arm")
        assert not signal.aborted


def test_stops_at_random_moments_around_the_watch_start_across_processes(make_worker: Callable[..., Worker]) -> None:
    watcher, stopper = make_worker(), make_worker()
    watches, stops = random_plan(150, "rnd-", spread=0.003, seed=1234)
    start_at = time.monotonic() + 0.5  # both processes read the same monotonic clock
    results: dict[str, Any] = {}
    threads = [
        threading.Thread(target=lambda: results.update(watch=watcher.race(watches, start_at))),
        threading.Thread(target=lambda: results.update(stop=stopper.race(stops, start_at))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG * 6)
    assert results["watch"]["watches"] == 150
    assert results["watch"]["lost"] == [] and results["watch"]["wrong"] == []


def _engine(bus: RedisStopBus) -> Engine:
    return bus._started().engine
