"""A separate process with its own ``RedisStopBus``, driven over a pipe by the test.

Real processes (``spawn``): a stop published by one must abort a watch in another
through Redis, with nothing shared but the server. Watches are entered with ``with``
or, on an event loop thread of the worker, with ``async with``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from ._support import HANG


class WorkerError(Exception):
    pass


class Worker:
    """``Worker(url, **bus_options)``: a process with a bus; methods run there."""

    def __init__(self, url: str, **bus_options: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, url, bus_options), daemon=True)
        self.process.start()
        child.close()
        self.pid: int = self._call("pid")

    def _call(self, op: str, *args: Any, timeout: float = HANG * 3) -> Any:
        self._conn.send((op, args))
        if not self._conn.poll(timeout):
            raise AssertionError(f"worker {self.process.pid} did not answer {op!r} within {timeout:g} s")
        ok, value = self._conn.recv()
        if not ok:
            raise WorkerError(value)
        return value

    def watch(self, ids: list[str], *, mode: str = "sync") -> list[bool]:
        """Enter a watch of each id (``mode``: "sync" or "async"); whether each is armed."""
        result: list[bool] = self._call("watch", ids, mode)
        return result

    def wait_aborted(self, ids: list[str], timeout: float = HANG) -> dict[str, Any]:
        """Wait until every watch of ``ids`` aborted (or ``timeout``); id -> (reason, stream id)
        for those that did."""
        result: dict[str, Any] = self._call("wait_aborted", ids, timeout)
        return result

    def aborted(self, ids: list[str]) -> dict[str, Any]:
        return self.wait_aborted(ids, 0.0)

    def armed(self, ids: list[str]) -> list[bool]:
        result: list[bool] = self._call("armed", ids)
        return result

    def unwatch(self, ids: list[str]) -> None:
        self._call("unwatch", ids)

    def stop(self, stream_id: str, reason: Any = None, timeout: float | None = 5.0) -> bool:
        result: bool = self._call("stop", stream_id, reason, timeout)
        return result

    def connected(self) -> bool:
        result: bool = self._call("connected")
        return result

    def race(self, plan: list[tuple[str, str, float]], start_at: float) -> dict[str, Any]:
        """Run ``plan`` (id, "watch" or "stop", seconds after ``start_at``, a shared
        ``time.monotonic()`` instant) and report what it saw."""
        result: dict[str, Any] = self._call("race", plan, start_at, timeout=HANG * 6)
        return result

    def close(self) -> None:
        if self.process.is_alive():
            try:
                self._call("close", timeout=HANG)
            except (AssertionError, OSError, EOFError):
                pass
        self.process.join(HANG)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._conn.close()


def _serve(conn: Connection, url: str, bus_options: dict[str, Any]) -> None:
    from abortkit.fleet import RedisStopBus

    bus = RedisStopBus(url, **bus_options)
    state = _State(bus)
    while True:
        try:
            op, args = conn.recv()
        except EOFError:
            break
        try:
            value = getattr(state, op)(*args)
        except Exception:
            conn.send((False, traceback.format_exc()))
        else:
            conn.send((True, value))
        if op == "close":
            break


def _describe(signal: Any) -> tuple[Any, Any]:
    reason = signal.reason
    return (getattr(reason, "reason", repr(reason)), getattr(reason, "stream_id", None))


class _State:
    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.watches: dict[str, Any] = {}
        self.exits: dict[str, Any] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def pid(self) -> int:
        return os.getpid()

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self.loop is None:
            loop = self.loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()
        return self.loop

    def watch(self, ids: list[str], mode: str) -> list[bool]:
        armed = []
        for stream_id in ids:
            watch = self.bus.watch(stream_id)
            if mode == "sync":
                watch.__enter__()
                self.exits[stream_id] = lambda w=watch: w.__exit__(None, None, None)
            else:
                leave = asyncio.Event()
                entered = threading.Event()

                async def hold(w: Any = watch, leave: asyncio.Event = leave, entered: Any = entered) -> None:
                    async with w:
                        entered.set()
                        await leave.wait()

                loop = self._loop()
                task = asyncio.run_coroutine_threadsafe(hold(), loop)
                entered.wait(HANG)

                def leave_async(task: Any = task, leave: asyncio.Event = leave, loop: Any = loop) -> None:
                    loop.call_soon_threadsafe(leave.set)
                    task.result(HANG)

                self.exits[stream_id] = leave_async
            self.watches[stream_id] = watch
            armed.append(watch.armed)
        return armed

    def armed(self, ids: list[str]) -> list[bool]:
        return [self.watches[i].armed for i in ids]

    def wait_aborted(self, ids: list[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            done = {i: _describe(self.watches[i].signal) for i in ids if self.watches[i].signal.aborted}
            if len(done) == len(ids) or time.monotonic() >= deadline:
                return done
            time.sleep(0.002)

    def unwatch(self, ids: list[str]) -> None:
        for stream_id in ids:
            self.exits.pop(stream_id)()
            del self.watches[stream_id]

    def stop(self, stream_id: str, reason: Any, timeout: float | None) -> bool:
        result: bool = self.bus.stop(stream_id, reason, timeout=timeout)
        return result

    def connected(self) -> bool:
        result: bool = self.bus.connected
        return result

    def race(self, plan: list[tuple[str, str, float]], start_at: float) -> dict[str, Any]:
        """Watch or stop each id at its time; threads so that several overlap."""
        return run_plan(self.bus, plan, start_at)

    def close(self) -> None:
        for leave in list(self.exits.values()):
            leave()
        self.exits.clear()
        self.bus.close()


def run_plan(bus: Any, plan: list[tuple[str, str, float]], start_at: float, threads: int = 8) -> dict[str, Any]:
    """Each item: (stream id, "watch" or "stop", offset). A watch is held until it aborts
    (or ``HANG``); returns the ids of watches that never aborted, and wrong reasons."""
    items = sorted(plan, key=lambda item: item[2])
    lock = threading.Lock()
    lost: list[str] = []
    wrong: list[str] = []
    position = [0]

    def run() -> None:
        while True:
            with lock:
                if position[0] == len(items):
                    return
                stream_id, action, offset = items[position[0]]
                position[0] += 1
            delay = start_at + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if action == "stop":
                bus.stop(stream_id, f"stop {stream_id}", timeout=0)
                continue
            with bus.watch(stream_id) as signal:
                done = threading.Event()
                signal.add_listener(done.set)
                if not done.wait(HANG):
                    lost.append(stream_id)
                elif signal.reason.reason != f"stop {stream_id}":
                    wrong.append(stream_id)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"lost": lost, "wrong": wrong, "watches": sum(1 for item in plan if item[1] == "watch")}


def random_plan(count: int, prefix: str, spread: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Watch and stop plans for ``count`` streams whose stop falls at random around the
    watch start (offsets within ``spread`` seconds either way, a third of them very close)."""
    rng = random.Random(seed)
    watches, stops = [], []
    for n in range(count):
        stream_id = f"{prefix}{n}"
        start = rng.uniform(0, spread * 4)
        near = rng.random() < 1 / 3
        offset = rng.uniform(-0.002, 0.002) if near else rng.uniform(-spread, spread)
        watches.append((stream_id, "watch", start))
        stops.append((stream_id, "stop", max(0.0, start + offset)))
    return watches, stops
