"""One session with Redis: a subscriber connection and a command connection, and the
three tasks that use them. A session does no bookkeeping of its own (that is the
engine's); when any task fails, the whole session ends and the supervisor starts a
new one after a back-off (``_supervisor``).

Two connections per process, whatever the number of watches: the subscriber carries
every channel subscription of the process (named ``abortkit-fleet:sub:<pid>`` in
``CLIENT LIST``), the other every stop and every check (``abortkit-fleet:cmd:<pid>``).
redis-py's own retries are disabled: a command that fails ends the session, and the
engine's state says what must be sent again on the next one.

Liveness: a PING goes out when the subscriber has been silent for ``heartbeat``
seconds, and the session ends when nothing (not even the PONG) comes within another
``heartbeat``: a Redis that vanished without closing the connection is noticed within
``2 * heartbeat``. A Redis that is killed or restarted closes the connection, and the
reader notices at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ._engine import Engine, Settings

__all__ = ["Session"]

PUBSUB_BATCH = 500  # channels per SUBSCRIBE / UNSUBSCRIBE command


def client_name(role: str) -> str:
    return f"abortkit-fleet:{role}:{os.getpid()}"


# Store then publish, for a batch of stops, as one command: KEYS are the stream names,
# ARGV holds (payload, remaining ms) for each. NX: an earlier stop of the stream stands.
STOP_SCRIPT = """
for i, name in ipairs(KEYS) do
    redis.call('SET', name, ARGV[2 * i - 1], 'PX', ARGV[2 * i], 'NX')
    redis.call('PUBLISH', name, ARGV[2 * i - 1])
end
return #KEYS
"""


def _pool(settings: Settings, role: str) -> aioredis.BlockingConnectionPool:
    """A pool of at most one connection: one per role and process."""
    return aioredis.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=1,
        timeout=settings.io_timeout,
        client_name=client_name(role),
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.io_timeout,
        socket_keepalive=True,
        health_check_interval=0,
    )


class Session:
    """Open with ``await Session.open(...)``, then ``await run()`` until it fails."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pools = (_pool(engine.settings, "cmd"), _pool(engine.settings, "sub"))
        # The command client holds its one connection (no pool round per command).
        self._commands = aioredis.Redis(connection_pool=self._pools[0], single_connection_client=True)
        self._pubsub = aioredis.Redis(connection_pool=self._pools[1]).pubsub(ignore_subscribe_messages=False)
        self._pubsub_queue: deque[tuple[bool, str]] = deque()
        self._pubsub_ready = asyncio.Event()
        self._work = asyncio.Event()
        self._heard = False  # the subscriber connection said something since the last heartbeat
        self._script = ""

    @classmethod
    async def open(cls, engine: Engine) -> Session:
        session = cls(engine)
        try:
            session._script = await session._commands.script_load(STOP_SCRIPT)
            await session._pubsub.connect()  # type: ignore[no-untyped-call]
            await session._pubsub.ping()  # fails here, not later, if the connection is refused
        except BaseException:
            await session.close()
            raise
        return session

    # -- what the engine calls (Link) ------------------------------------------------------
    def queue_pubsub(self, subscribe: bool, channel: str) -> None:
        self._pubsub_queue.append((subscribe, channel))
        self._pubsub_ready.set()

    def wake(self) -> None:
        self._work.set()

    # -- the tasks ---------------------------------------------------------------------
    async def run(self) -> None:
        """Run until a task fails (raises its exception) or the caller is cancelled."""
        tasks = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(self._heartbeat()),
            asyncio.ensure_future(self._send_pubsub()),
            asyncio.ensure_future(self._write()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
            raise ConnectionError("a session task ended without an error")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def _read(self) -> None:
        engine = self._engine
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            self._heard = True
            kind = message["type"]
            if kind == "message":
                engine.deliver(message["channel"], message["data"])
            elif kind == "subscribe" or kind == "unsubscribe":
                engine.confirmed(kind == "subscribe", message["channel"])

    async def _heartbeat(self) -> None:
        """PING a silent subscriber; no answer within another ``heartbeat``: the session is over."""
        heartbeat = self._engine.settings.heartbeat
        while True:
            self._heard = False
            await asyncio.sleep(heartbeat)
            if self._heard:
                continue
            await self._pubsub.ping()
            await asyncio.sleep(heartbeat)
            if not self._heard:
                raise TimeoutError(f"Redis did not answer a PING within {heartbeat:g} s")

    async def _send_pubsub(self) -> None:
        """SUBSCRIBE/UNSUBSCRIBE in the order the engine asked, consecutive ones batched."""
        queue = self._pubsub_queue
        while True:
            if not queue:
                self._pubsub_ready.clear()
                await self._pubsub_ready.wait()
                continue
            subscribe = queue[0][0]
            channels: list[str] = []
            while queue and queue[0][0] is subscribe and len(channels) < PUBSUB_BATCH:
                channels.append(queue.popleft()[1])
            if subscribe:
                self._engine.hooks.get("subscribe", _nothing)(channels)
                await self._pubsub.subscribe(*channels)
            else:
                await self._pubsub.unsubscribe(*channels)

    async def _write(self) -> None:
        """Stops first (store then publish), then the checks of newly subscribed watches."""
        engine = self._engine
        commands = self._commands
        while True:
            if not engine.has_work:
                self._work.clear()
                await self._work.wait()
                continue
            stops = engine.take_stops()
            if stops:
                names: list[str] = []
                arguments: list[bytes | int] = []
                for stop, remaining in stops:
                    if remaining > 0:
                        names.append(engine.name(stop.stream_id))
                        arguments += (stop.payload, remaining)
                if names:
                    await commands.evalsha(self._script, len(names), *names, *arguments)
                engine.stops_written(stops)
            watches = engine.take_checks()
            if watches:
                engine.hooks.get("check", _nothing)(watches)
                values = await commands.mget([engine.name(w.stream_id) for w in watches])
                engine.checked(watches, values)

    async def close(self) -> None:
        timeout = self._engine.settings.io_timeout
        for closing in (self._pubsub.aclose(), self._commands.aclose(), *(p.disconnect() for p in self._pools)):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(closing, timeout)


def _nothing(*args: Any) -> None:
    pass

