"""(c) ``abortable_iter`` cost per item, and (d) ``add_listener(cb).remove()`` cost.

Plain ``timeit``: the minimum of several repeats is the figure least disturbed by other
load on the machine (the median is reported too). (c) compares three loops over the same
list: bare iteration, a plain generator wrapper (the cheapest possible wrapper in Python),
and ``abortable_iter`` with a live signal. (d) times one registration and its removal on a
signal that already holds 1 or 100,000 listeners: it must not grow with the count.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import timeit
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from abortkit_cli.stats import median, percentile, summary

from abortkit import AbortController, AbortError, abort_scope, abortable_iter
from abortkit._network import AbortableNetworkStream

ITER_NAME = "iter"
LISTENERS_NAME = "listeners"


def _generator(iterable: Iterable[Any]) -> Iterator[Any]:
    yield from iterable


def run_iter(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    items = 1_000_000
    repeats = 3 if quick else 9
    data = list(range(items))
    signal = AbortController().signal

    def bare() -> None:
        for _ in data:
            pass

    def generator() -> None:
        for _ in _generator(data):
            pass

    def abortable() -> None:
        for _ in abortable_iter(data, signal):
            pass

    loops = {"bare": bare, "generator wrapper": generator, "abortable_iter": abortable}
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):  # interleaved, so a burst of load hits all three alike
        for name, loop in loops.items():
            times[name].append(timeit.timeit(loop, number=1) / items)
    log(f"  iter: {repeats} repeats of {items:,} items")
    return {
        "config": {"items": items, "repeats": repeats, "reads": _READS},
        "per_item": {
            name: {"min": min(values), "median": median(values), "all": values}
            for name, values in times.items()
        },
        "per_read": _read_costs(repeats),
        "detach": _detach_costs(repeats, log),
    }


DETACH_ITEMS = 20_000
DETACH_TRIALS = 30


def _detach_costs(repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``abortable_iter(..., detach=True)``: the hand-off per item, and the unwind from a
    producer blocked where nothing can wake it, beside the app's old way out: a worker thread
    feeding a queue that the consumer polls every 100 ms (measured in the same run)."""
    signal = AbortController().signal
    data = list(range(DETACH_ITEMS))
    per_item = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in abortable_iter(data, signal, detach=True):
            pass
        per_item.append((time.perf_counter() - started) / DETACH_ITEMS)
    unwinds: dict[str, list[float]] = {"detach=True": [], "100 ms polling worker": []}
    for _ in range(DETACH_TRIALS):
        for name, consume in (("detach=True", _consume_detached), ("100 ms polling worker", _consume_polling)):
            unwinds[name].append(consume())
    log(f"  iter: detach, {repeats} x {DETACH_ITEMS:,} items and {DETACH_TRIALS} unwinds")
    return {
        "per_item": {"min": min(per_item), "median": median(per_item)},
        "unwind": {name: summary(values) for name, values in unwinds.items()},
        "trials": DETACH_TRIALS,
    }


def _blocked_forever(release: threading.Event) -> Iterator[int]:
    yield 0
    release.wait()  # a call nothing can interrupt


def _trip_soon(controller: AbortController, stamp: list[float]) -> None:
    time.sleep(0.02 + random.random() * 0.03)
    stamp.append(time.perf_counter())
    controller.abort()


def _consume_detached() -> float:
    release, controller, stamp = threading.Event(), AbortController(), []
    threading.Thread(target=_trip_soon, args=(controller, stamp)).start()
    try:
        for _ in abortable_iter(_blocked_forever(release), controller.signal, detach=True):
            pass
    except AbortError:
        pass
    unwound = time.perf_counter() - stamp[0]
    release.set()
    return unwound


def _consume_polling() -> float:
    release, controller, stamp = threading.Event(), AbortController(), []
    items: queue.Queue[int] = queue.Queue()

    def worker() -> None:
        for item in _blocked_forever(release):
            items.put(item)

    threading.Thread(target=worker, daemon=True).start()
    threading.Thread(target=_trip_soon, args=(controller, stamp)).start()
    while not controller.signal.aborted:
        try:
            items.get(timeout=0.1)
        except queue.Empty:
            pass
    unwound = time.perf_counter() - stamp[0]
    release.set()
    return unwound


_READS = 100_000


class _InstantStream:
    """A network stream whose reads return at once: only the wrapper's cost is left."""

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return b"x"

    def get_extra_info(self, info: str) -> Any:
        return None


def _read_costs(repeats: int) -> dict[str, dict[str, float]]:
    """What ``instrument()`` adds to each network read (the other per-chunk cost of abortkit).

    Inside an ``abort_scope`` every blocking read registers a listener and removes it again.
    """
    inner = _InstantStream()
    wrapped = AbortableNetworkStream(inner)
    signal = AbortController().signal
    variants: dict[str, Callable[[], object]] = {
        "bare read": lambda: inner.read(65536, None),
        "instrumented, no scope": lambda: wrapped.read(65536, None),
    }
    times: dict[str, list[float]] = {name: [] for name in [*variants, "instrumented, in abort_scope"]}
    for _ in range(repeats):
        for name, read in variants.items():
            times[name].append(timeit.timeit(read, number=_READS) / _READS)
        with abort_scope(signal):
            times["instrumented, in abort_scope"].append(
                timeit.timeit(lambda: wrapped.read(65536, None), number=_READS) / _READS
            )
    return {name: {"min": min(v), "median": median(v)} for name, v in times.items()}


def run_listeners(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    number = 20_000 if quick else 200_000
    repeats = 3 if quick else 7
    results = {}
    for registered in (1, 100_000):
        signal = AbortController().signal
        callback: Callable[[], None] = lambda: None  # noqa: E731
        keep = [signal.add_listener(callback) for _ in range(registered)]
        per_op = [
            t / number
            for t in timeit.repeat(
                "signal.add_listener(cb).remove()",
                globals={"signal": signal, "cb": callback},
                number=number,
                repeat=repeats,
            )
        ]
        assert signal.listener_count == registered
        del keep
        results[str(registered)] = {"min": min(per_op), "median": median(per_op), "all": per_op}
        log(f"  listeners: {registered:,} registered")
    fan_out = _fan_out_costs(repeats)
    log("  listeners: fan-out " + ", ".join(f"{k}: {v['median'] * 1e3:.1f} ms" for k, v in fan_out.items()))
    return {"config": {"number": number, "repeats": repeats}, "per_op": results, "fan_out": fan_out}


FAN_OUT_COUNTS = (10_000, 100_000)


def _fan_out_costs(repeats: int) -> dict[str, dict[str, float]]:
    """``abort()`` of a signal holding N no-op listeners: the time to run them all (issue 10:
    100,000 within 12x of 10,000, i.e. linear; a quadratic drain costs about 100x)."""
    results: dict[str, dict[str, float]] = {}
    for count in FAN_OUT_COUNTS:
        times = []
        for _ in range(repeats):
            controller = AbortController()
            for _ in range(count):
                controller.signal.add_listener(int)
            started = time.perf_counter()
            controller.abort()
            times.append(time.perf_counter() - started)
        results[str(count)] = {"min": min(times), "median": median(times), "p99": percentile(times, 99)}
    return results
