"""(i) Stop across processes over Redis: ``abortkit.fleet.RedisStopBus``.

A real ``redis-server`` (``abortkit.testing.RedisServer``, loopback, no persistence) and
real worker processes (``spawn``). Four measurements, in one run:

* Latency: from ``bus.stop(id)`` (sync, from a thread) or ``await bus.astop(id)`` (from
  an event loop) called in the stopper process to ``AbortError`` raised in a consumer
  thread of the watcher process (the thread waits on an event set by an abort listener,
  then ``signal.throw_if_aborted()``). Beside them, two baselines with plain redis-py and
  no abortkit: the bare pub/sub round trip (the stopper PUBLISHes, a subscriber thread
  of the watcher process PUBLISHes it back, a subscriber thread of the stopper receives
  it) and the one-way floor (the stopper PUBLISHes, the watcher's subscriber thread
  receives). Timed on ``time.perf_counter`` (``CLOCK_MONOTONIC``, shared by the processes
  of one machine); trials of the four series interleaved in random order.
* Random timing: 10,000 streams over 2 watcher and 2 stopper processes; each stop falls
  at random around its watch's start (within 5 ms either way, a third within 0.5 ms);
  a watch that has not aborted 10 s after both its start and its stop is lost.
* The same with Redis killed (``SIGKILL``, every key lost) and restarted mid-run.
* Connections: ``CLIENT LIST`` sampled on the server every 50 ms during the random runs;
  the most connections any process held, per role (the bus names them).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

NAME = "fleet"
LOST_AFTER = 10.0  # a watch not aborted this long after its start and its stop is lost
SPREAD = 0.005
NEAR = 0.0005
RATE = 1000  # watch starts per second over the fleet


# -- worker processes --------------------------------------------------------------------------


class _Process:
    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=True)
        self.process.start()
        child.close()
        self.pid: int = self.call("pid")

    def send(self, *message: Any) -> None:
        self.conn.send(message)

    def recv(self, timeout: float = 120.0) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"benchmark worker {self.process.pid} did not answer within {timeout:g} s")
        ok, value = self.conn.recv()
        if not ok:
            raise RuntimeError(f"benchmark worker failed:\n{value}")
        return value

    def call(self, *message: Any, timeout: float = 120.0) -> Any:
        self.send(*message)
        return self.recv(timeout)

    def close(self) -> None:
        try:
            self.call("close", timeout=30)
        except (RuntimeError, OSError, EOFError):
            pass
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _serve(conn: Connection, url: str, handlers: Callable[[str], Any]) -> None:
    state = handlers(url)
    while True:
        try:
            op, *args = conn.recv()
        except EOFError:
            return
        try:
            value = getattr(state, op)(*args)
        except Exception:
            import traceback

            conn.send((False, traceback.format_exc()))
        else:
            conn.send((True, value))
        if op == "close":
            return


def _watcher_main(conn: Connection, url: str) -> None:
    _serve(conn, url, _Watcher)


def _stopper_main(conn: Connection, url: str) -> None:
    _serve(conn, url, _Stopper)


class _Watcher:
    """Holds a bus and a bare redis-py subscriber; answers the latency trials."""

    def __init__(self, url: str) -> None:
        import redis

        from abortkit.fleet import RedisStopBus

        self.bus = RedisStopBus(url)
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe("bench:bare", "bench:ping")
        self.ponger = redis.Redis.from_url(url)
        self.bare_received: dict[int, float] = {}
        self.bare_event = threading.Event()
        threading.Thread(target=self._bare_reader, daemon=True).start()
        self.watch: Any = None
        self.consumer: threading.Thread | None = None
        self.unwound: float | None = None

    def pid(self) -> int:
        import os

        return os.getpid()

    def _bare_reader(self) -> None:
        import redis

        while True:
            try:
                message = self.pubsub.get_message(timeout=None)
            except redis.RedisError:  # Redis restarted (the restart run): the floor was measured before
                return
            if message is None:
                continue
            if message["type"] != "message":
                continue
            if message["channel"] == b"bench:ping":  # the round trip: answer at once
                self.ponger.publish("bench:pong", message["data"])
                continue
            received = time.perf_counter()
            self.bare_received[int(message["data"])] = received
            self.bare_event.set()

    def bare_ready(self) -> bool:
        self.bare_event.clear()
        return True

    def bare_wait(self, trial: int) -> float | None:
        deadline = time.monotonic() + LOST_AFTER
        while trial not in self.bare_received and time.monotonic() < deadline:
            self.bare_event.wait(0.1)
        return self.bare_received.pop(trial, None)

    def arm(self, stream_id: str) -> bool:
        """Enter a watch; a consumer thread waits for its abort and raises AbortError."""
        from abortkit import AbortError

        watch = self.watch = self.bus.watch(stream_id)
        signal = watch.__enter__()
        woken = threading.Event()
        signal.add_listener(woken.set)
        self.unwound = None

        def consume() -> None:
            woken.wait(LOST_AFTER)
            try:
                signal.throw_if_aborted()
            except AbortError:
                self.unwound = time.perf_counter()

        self.consumer = threading.Thread(target=consume)
        self.consumer.start()
        armed: bool = watch.armed
        return armed

    def unwound_at(self) -> float | None:
        assert self.consumer is not None
        self.consumer.join(LOST_AFTER + 1)
        self.watch.__exit__(None, None, None)
        return self.unwound

    def race(self, plan: list[tuple[str, float]], start_at: float) -> dict[str, Any]:
        return asyncio.run(_watch_plan(self.bus, plan, start_at))

    def close(self) -> None:
        self.bus.close()


class _Stopper:
    def __init__(self, url: str) -> None:
        import redis

        from abortkit.fleet import RedisStopBus

        self.bus = RedisStopBus(url)
        self.client = redis.Redis.from_url(url)
        self.client.ping()
        self.bus.stop("bench:warm-up")
        self.pongs = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pongs.subscribe("bench:pong")
        self.pong: dict[int, float] = {}
        self.pong_event = threading.Event()
        threading.Thread(target=self._pong_reader, daemon=True).start()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _pong_reader(self) -> None:
        import redis

        while True:
            try:
                message = self.pongs.get_message(timeout=None)
            except redis.RedisError:  # Redis restarted (the restart run)
                return
            if message is not None and message["type"] == "message":
                self.pong[int(message["data"])] = time.perf_counter()
                self.pong_event.set()

    def round_trip(self, trial: int) -> float | None:
        """PUBLISH to the watcher process, which answers on another channel: the bare round trip."""
        self.pong_event.clear()
        started = time.perf_counter()
        self.client.publish("bench:ping", str(trial))
        deadline = time.monotonic() + LOST_AFTER
        while trial not in self.pong and time.monotonic() < deadline:
            self.pong_event.wait(0.1)
            self.pong_event.clear()
        received = self.pong.pop(trial, None)
        return None if received is None else received - started

    def astop(self, stream_id: str) -> float:
        """``await bus.astop(id)`` on an event loop of this process; when it was called."""

        async def stop() -> float:
            started = time.perf_counter()
            await self.bus.astop(stream_id, "bench")
            return started

        return asyncio.run_coroutine_threadsafe(stop(), self.loop).result()

    def pid(self) -> int:
        import os

        return os.getpid()

    def publish(self, trial: int) -> float:
        started = time.perf_counter()
        self.client.publish("bench:bare", str(trial))
        return started

    def stop(self, stream_id: str) -> float:
        started = time.perf_counter()
        self.bus.stop(stream_id, "bench")  # waits until Redis has it, as a stop handler would
        return started

    def race(self, plan: list[tuple[str, float]], start_at: float) -> dict[str, Any]:
        return asyncio.run(_stop_plan(self.bus, plan, start_at))

    def close(self) -> None:
        self.bus.close(timeout=5)


async def _watch_plan(bus: Any, plan: list[tuple[str, float]], start_at: float) -> dict[str, Any]:
    """Each (id, offset): at ``start_at + offset`` enter ``async with bus.watch(id)`` and
    wait for its abort. Returns the lost ids and when each watch aborted."""
    aborted_at: dict[str, float] = {}
    started_at: dict[str, float] = {}
    lost: list[str] = []
    wrong: list[str] = []

    async def one(stream_id: str, offset: float) -> None:
        delay = start_at + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        started_at[stream_id] = time.monotonic() - start_at
        async with bus.watch(stream_id) as signal:
            loop = asyncio.get_running_loop()
            woken = asyncio.Event()

            def on_abort() -> None:  # on the bus's thread, at the abort: not late by this loop's lag
                aborted_at[stream_id] = time.monotonic() - start_at
                loop.call_soon_threadsafe(woken.set)

            signal.add_listener(on_abort)
            try:
                await asyncio.wait_for(woken.wait(), LOST_AFTER + SPREAD)
            except asyncio.TimeoutError:
                lost.append(stream_id)
                return
            if signal.reason.reason != "race":
                wrong.append(stream_id)

    await asyncio.gather(*(one(stream_id, offset) for stream_id, offset in plan))
    return {"lost": lost, "wrong": wrong, "aborted_at": aborted_at, "started_at": started_at}


async def _stop_plan(bus: Any, plan: list[tuple[str, float]], start_at: float) -> dict[str, Any]:
    called_at: dict[str, float] = {}

    async def one(stream_id: str, offset: float) -> None:
        delay = start_at + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        called_at[stream_id] = time.monotonic() - start_at
        await bus.astop(stream_id, "race", timeout=0)

    await asyncio.gather(*(one(stream_id, offset) for stream_id, offset in plan))
    return {"called_at": called_at}


# -- the measurements ----------------------------------------------------------------------------


SERIES = ("bare one-way", "bare round trip", "stop()", "astop()")


def _latency(watcher: _Process, stopper: _Process, trials: int, log: Callable[[str], None]) -> dict[str, Any]:
    kinds = list(SERIES) * trials
    random.Random(7).shuffle(kinds)
    samples: dict[str, list[float]] = {kind: [] for kind in SERIES}
    missing: Counter[str] = Counter()
    not_armed = 0
    for trial, kind in enumerate(kinds):
        elapsed: float | None
        if kind == "bare one-way":
            watcher.call("bare_ready")
            started = stopper.call("publish", trial)
            received = watcher.call("bare_wait", trial)
            elapsed = None if received is None else received - started
        elif kind == "bare round trip":
            elapsed = stopper.call("round_trip", trial)
        else:
            stream_id = f"bench:lat:{trial}"
            if not watcher.call("arm", stream_id):
                not_armed += 1
            started = stopper.call("stop" if kind == "stop()" else "astop", stream_id)
            received = watcher.call("unwound_at")
            elapsed = None if received is None else received - started
        if elapsed is None:
            missing[kind] += 1
        else:
            samples[kind].append(elapsed)
    log(f"  latency: {trials} trials of each of {len(SERIES)} series")
    return {"samples": samples, "missing": dict(missing), "not_armed": not_armed}


def _plans(
    count: int, seed: int, watchers: int, stoppers: int, prefix: str, rate: float = RATE
) -> tuple[list[Any], list[Any]]:
    rng = random.Random(seed)
    duration = count / rate
    watch_plans: list[list[tuple[str, float]]] = [[] for _ in range(watchers)]
    stop_plans: list[list[tuple[str, float]]] = [[] for _ in range(stoppers)]
    for n in range(count):
        stream_id = f"{prefix}{n}"
        start = 0.2 + rng.uniform(0, duration)
        offset = rng.uniform(-NEAR, NEAR) if rng.random() < 1 / 3 else rng.uniform(-SPREAD, SPREAD)
        watch_plans[rng.randrange(watchers)].append((stream_id, start))
        stop_plans[rng.randrange(stoppers)].append((stream_id, max(0.0, start + offset)))
    return watch_plans, stop_plans


def _race(
    server: Any,
    watchers: list[_Process],
    stoppers: list[_Process],
    count: int,
    seed: int,
    prefix: str,
    restart_at: float | None,
    log: Callable[[str], None],
    rate: float = RATE,
) -> dict[str, Any]:
    import redis

    watch_plans, stop_plans = _plans(count, seed, len(watchers), len(stoppers), prefix, rate)
    start_at = time.monotonic() + 1.0
    for process, plan in zip(watchers, watch_plans, strict=True):
        process.send("race", plan, start_at)
    for process, plan in zip(stoppers, stop_plans, strict=True):
        process.send("race", plan, start_at)
    peak: Counter[tuple[str, int]] = Counter()
    subscribed_peak: Counter[int] = Counter()
    samples = 0
    done = threading.Event()
    restart: dict[str, float] = {}

    def sample() -> None:
        nonlocal samples
        client: Any = None
        while not done.is_set():
            try:
                if client is None:
                    client = redis.Redis.from_url(server.url, socket_timeout=1)
                counts: Counter[tuple[str, int]] = Counter()
                for entry in client.client_list():
                    name = entry.get("name", "")
                    if name.startswith("abortkit-fleet:"):
                        _, role, pid = name.split(":")
                        counts[(role, int(pid))] += 1
                        if role == "sub":
                            subscribed_peak[int(pid)] = max(subscribed_peak[int(pid)], int(entry["sub"]))
                for key, value in counts.items():
                    peak[key] = max(peak[key], value)
                samples += 1
            except (redis.RedisError, OSError):
                client = None  # Redis is being restarted
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if restart_at is not None:
        time.sleep(max(0.0, start_at + restart_at - time.monotonic()))
        restart["killed_at"] = time.monotonic() - start_at
        server.kill()
        time.sleep(0.5)
        server.start()
        restart["back_at"] = time.monotonic() - start_at
        log(f"  Redis killed at {restart['killed_at']:.2f} s, back at {restart['back_at']:.2f} s")
    results = [process.recv(timeout=count / rate + LOST_AFTER * 3 + 60) for process in watchers]
    stopped = [process.recv(timeout=60) for process in stoppers]
    done.set()
    sampler.join()
    # When each stop and each watch really began (the plan's times, plus the lateness of a
    # loaded machine): the abort delay counts from the later of the two.
    stop_times = {stream_id: at for result in stopped for stream_id, at in result["called_at"].items()}
    start_times = {stream_id: at for result in results for stream_id, at in result["started_at"].items()}
    planned = {stream_id: offset for plan in (*watch_plans, *stop_plans) for stream_id, offset in plan}
    lateness = [at - planned[stream_id] for stream_id, at in (*stop_times.items(), *start_times.items())]
    delays, stop_first, watch_first = [], [], []
    for result in results:
        for stream_id, aborted in result["aborted_at"].items():
            delay = aborted - max(stop_times[stream_id], start_times[stream_id])
            delays.append(delay)
            (stop_first if stop_times[stream_id] < start_times[stream_id] else watch_first).append(delay)
    lost = [stream_id for result in results for stream_id in result["lost"]]
    wrong = [stream_id for result in results for stream_id in result["wrong"]]
    before = sum(1 for s in stop_times if s in start_times and stop_times[s] < start_times[s])
    if restart:  # the bound: how long after Redis was back the streams caught by the outage stopped
        caught = [
            aborted - restart["back_at"]
            for result in results
            for stream_id, aborted in result["aborted_at"].items()
            if restart["killed_at"] <= aborted and max(stop_times[stream_id], start_times[stream_id]) < restart["back_at"]
        ]
        restart["caught"] = len(caught)
        restart["last_abort_after_back"] = max(caught) if caught else None
    log(f"  {count:,} streams: {len(lost)} lost, {len(wrong)} wrong reasons")
    return {
        "streams": count,
        "stops_before_watch": before,
        "lost": lost[:20],
        "lost_count": len(lost),
        "wrong_count": len(wrong),
        "delays": delays,
        "delays_stop_first": stop_first,  # found by the watch's read of the key
        "delays_watch_first": watch_first,  # delivered by the published message
        "lateness": lateness,
        "peak_connections": {f"{role}:{pid}": n for (role, pid), n in sorted(peak.items())},
        "peak_subscriptions": {str(pid): n for pid, n in sorted(subscribed_peak.items())},
        "processes": {"watchers": [w.pid for w in watchers], "stoppers": [s.pid for s in stoppers]},
        "clients_samples": samples,
        "restart": restart or None,
    }


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    from abortkit.testing import RedisServer

    latency_trials = 100 if quick else 1000
    streams = 1000 if quick else 10_000
    restart_streams = 500 if quick else 3000
    with RedisServer() as server:
        watchers = [_Process(_watcher_main, server.url) for _ in range(2)]
        stoppers = [_Process(_stopper_main, server.url) for _ in range(2)]
        try:
            latency = _latency(watchers[0], stoppers[0], latency_trials, log)
            random_run = _race(server, watchers, stoppers, streams, 11, "bench:rnd:", None, log)
            restart_run = _race(
                server, watchers, stoppers, restart_streams, 12, "bench:restart:", restart_streams / 1000 / 3, log
            )
        finally:
            for process in (*watchers, *stoppers):
                process.close()
    import redis

    return {
        "config": {
            "latency_trials": latency_trials,
            "streams": streams,
            "restart_streams": restart_streams,
            "spread": SPREAD,
            "near": NEAR,
            "lost_after": LOST_AFTER,
            "bus_defaults": {"ttl": 600.0, "reconnect_max_delay": 1.0, "heartbeat": 5.0},
            "redis_py": redis.__version__,
            "redis_server": _server_version(),
        },
        "latency": latency,
        "random": random_run,
        "restart": restart_run,
    }


def _server_version() -> str:
    import subprocess

    try:
        out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return "unknown"
    return out.split(" v=")[1].split()[0] if " v=" in out else out.strip()
