"""``RedisStopBus`` and ``StopWatch``: the public face of the bus (argument checks, and the
hand-over between the caller's thread or loop and the bus's own thread)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import urllib.parse
from types import TracebackType
from typing import Any

from .._signal import AbortSignal
from .._validate import seconds as check_seconds
from .._validate import type_name
from ._engine import Engine, Settings, Watch
from ._names import check_prefix, check_stream_id
from ._reason import encode_stop
from ._runner import Runner

__all__ = ["RedisStopBus", "StopWatch"]

_SCHEMES = ("redis", "rediss", "unix")


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"RedisStopBus url must be a str, not {type_name(url)}")
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"RedisStopBus url must start with redis://, rediss:// or unix://, not {url!r}")
    return url


def _redacted(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _wait(future: concurrent.futures.Future[bool], timeout: float | None) -> bool:
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        return False


async def _await(future: concurrent.futures.Future[bool], timeout: float | None) -> bool:
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
    except asyncio.TimeoutError:
        return False


class RedisStopBus:
    """Stop a stream from any process that reaches the same Redis: ``watch`` and ``stop``.

    Create one per process (at start-up) and share it: every watch of the process
    goes through one subscriber connection, and every stop and check through one
    command connection, served by the bus's own thread. Sync and async callers use
    the same bus.

    ``url``: ``redis://[user:password@]host:port/db``, ``rediss://`` (TLS) or
    ``unix://path``. ``ttl``: how long a stop is kept, in Redis and in the process
    that issued it (default 10 minutes): a watch that starts up to ``ttl`` after the
    stop, or a Redis outage shorter than ``ttl``, still stops the stream. Stream ids
    must therefore not be reused within ``ttl``. ``prefix``: the start of every key
    and channel the bus uses. ``reconnect_max_delay``: the longest wait between two
    reconnection attempts (the back-off starts at 20 ms); once Redis is back, every
    pending stop takes effect within about this long. ``heartbeat``: a silent
    subscriber connection is pinged after this long and dropped if the PONG takes as
    long again. ``connect_timeout`` and ``io_timeout``: per connection attempt and per
    command; ``io_timeout`` also bounds how long entering and leaving a watch wait for
    Redis.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 600.0,
        prefix: str = "abortkit:stop:",
        reconnect_max_delay: float = 1.0,
        heartbeat: float = 5.0,
        connect_timeout: float = 2.0,
        io_timeout: float = 5.0,
    ) -> None:
        ttl_value = check_seconds("RedisStopBus ttl", ttl, positive=True, finite=True)
        if ttl_value < 0.001:
            raise ValueError(f"RedisStopBus ttl must be at least 0.001 s (Redis counts in milliseconds), not {ttl!r}")
        self._settings = Settings(
            url=_check_url(url),
            prefix=check_prefix(prefix),
            ttl=ttl_value,
            reconnect_max_delay=check_seconds(
                "RedisStopBus reconnect_max_delay", reconnect_max_delay, positive=True, finite=True
            ),
            heartbeat=check_seconds("RedisStopBus heartbeat", heartbeat, positive=True, finite=True),
            connect_timeout=check_seconds("RedisStopBus connect_timeout", connect_timeout, positive=True, finite=True),
            io_timeout=check_seconds("RedisStopBus io_timeout", io_timeout, positive=True, finite=True),
        )
        self._lock = threading.Lock()
        self._runner: Runner | None = None
        self._closed = False

    # -- state ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The URL, password masked."""
        return _redacted(self._settings.url)

    @property
    def ttl(self) -> float:
        return self._settings.ttl

    @property
    def prefix(self) -> str:
        return self._settings.prefix

    @property
    def connected(self) -> bool:
        """True while a session with Redis is up in this process."""
        runner = self._runner
        return runner is not None and runner.pid == os.getpid() and runner.engine.link is not None

    @property
    def watch_count(self) -> int:
        """Watches live in this process (for leak checks)."""
        runner = self._runner
        return runner.engine.watch_count if runner is not None and runner.pid == os.getpid() else 0

    def _started(self) -> Runner:
        runner = self._runner
        if runner is not None and runner.pid == os.getpid() and not self._closed:
            return runner
        with self._lock:
            if self._closed:
                raise RuntimeError("this RedisStopBus is closed")
            runner = self._runner
            if runner is None or runner.pid != os.getpid():  # first use, or a forked child
                runner = self._runner = Runner(Engine(self._settings))
            return runner

    # -- the API ---------------------------------------------------------------------------
    def watch(self, stream_id: str) -> StopWatch:
        """A context manager (``with`` or ``async with``) yielding an ``AbortSignal`` that
        aborts, with a ``StopRequested`` reason, when ``stop(stream_id)`` is called in any
        process on the same Redis: before the watch started (up to ``ttl`` earlier),
        while it starts, or while it runs."""
        return StopWatch(self, check_stream_id("watch() stream_id", stream_id))

    def stop(self, stream_id: str, reason: Any = None, *, timeout: float | None = 1.0) -> bool:
        """Stop ``stream_id`` wherever it is watched; returns True once Redis has it.

        Watches of the stream in this process abort at once. The stop is then stored
        (for ``ttl``) and published; if that did not happen within ``timeout`` seconds
        (Redis down, or ``timeout=0``), this returns False and the stop stays queued in
        this process, sent as soon as Redis is back (while the bus is open and the
        ``ttl`` not over). ``timeout=None`` waits as long as it takes. ``reason``:
        ``None``, a ``str`` or a small JSON value; watchers get it as
        ``StopRequested.reason``. Called from an abort listener (the bus's thread),
        it never waits.
        """
        runner, payload, wait = self._stop_args("stop()", stream_id, reason, timeout)
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        runner.call(runner.engine.stop, stream_id, payload, future)
        if wait == 0 or runner.on_loop_thread():
            return False
        return _wait(future, wait)

    async def astop(self, stream_id: str, reason: Any = None, *, timeout: float | None = 1.0) -> bool:
        """``stop`` for async code: the same, awaited without blocking the event loop."""
        runner, payload, wait = self._stop_args("astop()", stream_id, reason, timeout)
        future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        runner.call(runner.engine.stop, stream_id, payload, future)
        return await _await(future, wait)

    def _stop_args(
        self, what: str, stream_id: object, reason: object, timeout: object
    ) -> tuple[Runner, bytes, float | None]:
        check_stream_id(f"{what} stream_id", stream_id)
        payload = encode_stop(reason, what)
        wait = None if timeout is None else check_seconds(f"{what} timeout", timeout)
        return self._started(), payload, wait

    def close(self, timeout: float = 1.0) -> None:
        """Give queued stops up to ``timeout`` seconds to reach Redis, then disconnect.

        Idempotent. Live watches keep their signals (they can no longer be stopped
        through this bus); later calls of ``watch``/``stop`` raise RuntimeError.
        """
        wait = check_seconds("close() timeout", timeout, finite=True)
        with self._lock:
            self._closed = True
            runner, self._runner = self._runner, None
        if runner is not None and runner.pid == os.getpid():
            runner.close(wait)

    async def aclose(self, timeout: float = 1.0) -> None:
        """``close`` for async code."""
        await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> RedisStopBus:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> RedisStopBus:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "connected" if self.connected else "not connected"
        return f"<RedisStopBus {self.url} {state} watches={self.watch_count}>"


_NEW, _ENTERED, _EXITED = range(3)


class StopWatch:
    """What ``RedisStopBus.watch`` returns; enter it once (``with`` or ``async with``).

    Entering registers the watch and, when Redis is reachable, waits (up to the bus's
    ``io_timeout``) until it is armed: subscribed, and any stop stored earlier read.
    When Redis is not reachable it returns at once; the watch is armed as soon as
    the bus reconnects, and a stop issued meanwhile still takes effect then. Leaving
    unsubscribes (the last watch of a stream in this process) and waits for Redis to
    confirm, so nothing is left behind; an exception in the block passes unchanged.
    """

    __slots__ = ("_bus", "_runner", "_state", "_watch")

    def __init__(self, bus: RedisStopBus, stream_id: str) -> None:
        self._bus = bus
        self._watch = Watch(stream_id)
        self._runner: Runner | None = None
        self._state = _NEW

    @property
    def stream_id(self) -> str:
        return self._watch.stream_id

    @property
    def signal(self) -> AbortSignal:
        return self._watch.controller.signal

    @property
    def armed(self) -> bool:
        """True while subscribed and checked on the current connection (or already stopped)."""
        return self._watch.checked or self._watch.controller.signal.aborted

    def _register(self) -> tuple[Runner, concurrent.futures.Future[bool]]:
        if self._state != _NEW:
            raise RuntimeError("a StopWatch can be entered only once: call bus.watch() again")
        runner = self._bus._started()
        self._runner = runner
        self._state = _ENTERED
        armed: concurrent.futures.Future[bool] = concurrent.futures.Future()
        runner.call(runner.engine.register, self._watch, armed)
        return runner, armed

    def _unregister(self) -> concurrent.futures.Future[bool] | None:
        runner = self._runner
        self._state = _EXITED
        done: concurrent.futures.Future[bool] = concurrent.futures.Future()
        if runner is None or not runner.thread.is_alive() or runner.pid != os.getpid():
            return None  # the bus was closed (or this is a forked child): nothing left to undo
        try:
            runner.call(runner.engine.unregister, self._watch, done)
        except RuntimeError:  # the loop closed in between
            return None
        return None if runner.on_loop_thread() else done

    def __enter__(self) -> AbortSignal:
        runner, armed = self._register()
        if not runner.on_loop_thread():
            try:
                _wait(armed, self._bus._settings.io_timeout)
            except BaseException:
                self._unregister()
                raise
        return self.signal

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        done = self._unregister()
        if done is not None:
            _wait(done, self._bus._settings.io_timeout)

    async def __aenter__(self) -> AbortSignal:
        _, armed = self._register()
        try:
            await _await(armed, self._bus._settings.io_timeout)
        except BaseException:  # cancelled while arming: leave nothing behind
            self._unregister()
            raise
        return self.signal

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        done = self._unregister()
        if done is not None:
            await _await(done, self._bus._settings.io_timeout)

    def __repr__(self) -> str:
        state = ("new", "entered", "exited")[self._state]
        return f"<StopWatch {self.stream_id!r} {state} signal={self.signal!r}>"
