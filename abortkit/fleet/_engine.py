"""The bus's bookkeeping: live watches, channel subscriptions, pending and recent stops.

Everything here runs on the bus's own event loop thread (``_runner``), so none of it
needs a lock: callers on other threads hand their requests over with
``call_soon_threadsafe`` and wait on a ``concurrent.futures.Future``.

Why a stop is never lost (read this before changing the order of anything)
------------------------------------------------------------------------------
A stop is written as ``SET key payload PX ttl NX`` then ``PUBLISH channel payload``,
both inside one script (``_session.STOP_SCRIPT``), so Redis executes the SET before the
PUBLISH, with nothing in between. A watch
is armed by ``SUBSCRIBE channel`` on the subscriber connection and, only once Redis
has confirmed that subscription (the confirmation is read by ``_session``), ``MGET
key`` on the command connection. Redis executes commands one at a time, and the MGET
is sent after the confirmation was received, so it executes after the SUBSCRIBE.
For a stop ``SET < PUBLISH`` and for a watch ``SUBSCRIBE < MGET``; either
``PUBLISH > SUBSCRIBE``, and the subscription (held until the watch exits) delivers
the message, or ``PUBLISH < SUBSCRIBE``, and then ``SET < PUBLISH < SUBSCRIBE < MGET``
so the MGET reads the stored stop. Both can happen; ``abort()`` is idempotent.

Inside this process: a watch registered after the message for its stream was
dispatched is still checked by its own MGET (sent after its registration, so after
the PUBLISH). Subscriptions are reference counted per stream: the first watch of a
stream subscribes, the last one to leave unsubscribes. Confirmations arrive in the
order the commands were sent, so each channel keeps the queue of its unconfirmed
SUBSCRIBE/UNSUBSCRIBE commands (``_Channel.sent``), and a channel is live, its watches
ready to be checked, when that queue is empty and it has watches (the last command
was then a confirmed SUBSCRIBE: a watch holds its channel, so no UNSUBSCRIBE follows).

Reconnection: when either connection fails the whole session is dropped. Every
watch becomes unchecked again, and the next session re-subscribes every channel that
has watches and re-checks each of them after its confirmation: a stop published
while this process was disconnected is found in its key. Stops this process issued
are kept (``_journal``) until their TTL runs out; those not yet written wait in the
outbox, and after a reconnect all of them are written again (store then publish, as
the first time: ``NX`` keeps the first reason), because a Redis that restarted
without persistence has lost its keys and the messages it had not yet sent. A
stop must therefore outlive the gap it bridges: the TTL bounds how late a watch may
start, and how long an outage can be, for a stop to still reach it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from .._signal import AbortController
from ._reason import decode_stop

__all__ = ["Engine", "Settings", "Stop", "Watch", "resolve"]

logger = logging.getLogger("abortkit")

STOP_BATCH = 256  # stops per pipeline
CHECK_BATCH = 1000  # keys per MGET


def resolve(future: concurrent.futures.Future[bool] | None, value: bool) -> None:
    """Complete a caller's future unless it already is (the caller may have cancelled it)."""
    if future is not None:
        try:
            future.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass


@dataclass(frozen=True)
class Settings:
    url: str
    prefix: str
    ttl: float
    reconnect_max_delay: float
    heartbeat: float
    connect_timeout: float
    io_timeout: float


class Link(Protocol):
    """What the engine needs from a live session (``_session.Session``)."""

    def queue_pubsub(self, subscribe: bool, channel: str) -> None: ...

    def wake(self) -> None: ...


class Watch:
    """One ``watch()`` of one stream: its controller and where it stands."""

    __slots__ = ("armed", "checked", "controller", "registered", "stream_id")

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.controller = AbortController()
        self.registered = False
        self.checked = False  # subscribed and its key read, in the current session
        self.armed: concurrent.futures.Future[bool] | None = None


class Stop:
    """A stop this process issued, kept until its TTL runs out."""

    __slots__ = ("deadline", "delivered", "futures", "payload", "queued", "stream_id")

    def __init__(self, stream_id: str, payload: bytes, deadline: float) -> None:
        self.stream_id = stream_id
        self.payload = payload
        self.deadline = deadline
        self.queued = False
        self.delivered = False
        self.futures: list[concurrent.futures.Future[bool]] = []


class _Channel:
    __slots__ = ("sent", "watches")

    def __init__(self) -> None:
        self.watches: dict[Watch, None] = {}
        # Unconfirmed SUBSCRIBE (True) / UNSUBSCRIBE (False) commands, oldest first, with
        # the future of the watch exit waiting for an UNSUBSCRIBE.
        self.sent: deque[tuple[bool, concurrent.futures.Future[bool] | None]] = deque()


class Engine:
    """The state of one bus in one process; every method runs on the bus loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.link: Link | None = None
        self.sessions = 0  # sessions begun so far
        self.down = False  # the last attempt to reach Redis failed, or the session was lost
        self.watch_count = 0
        self._channels: dict[str, _Channel] = {}
        self._to_check: dict[Watch, None] = {}
        self._outbox: deque[Stop] = deque()
        self._journal: dict[str, Stop] = {}  # stream id -> its first stop, oldest first
        self.wanted = asyncio.Event()  # something needs Redis: connect
        self.outbox_empty = asyncio.Event()
        self.outbox_empty.set()
        self.hooks: dict[str, Any] = {}  # tests only: callables run at named points

    # -- names -------------------------------------------------------------------------
    def name(self, stream_id: str) -> str:
        """The key that stores, and the channel that announces, a stream's stop."""
        return self.settings.prefix + stream_id

    def stream_of(self, channel: bytes) -> str | None:
        text = channel.decode("utf-8", "replace")
        prefix = self.settings.prefix
        return text[len(prefix) :] if text.startswith(prefix) else None

    def _hook(self, point: str, *args: Any) -> None:
        hook = self.hooks.get(point)
        if hook is not None:
            hook(*args)

    # -- watches -----------------------------------------------------------------------
    def register(self, watch: Watch, armed: concurrent.futures.Future[bool]) -> None:
        watch.armed = armed
        earlier = self._recent(watch.stream_id)
        if earlier is not None:  # stopped from this process already: no need to ask Redis
            watch.controller.abort(decode_stop(watch.stream_id, earlier.payload))
            resolve(armed, True)
            return
        watch.registered = True
        self.watch_count += 1
        channel = self._channels.get(watch.stream_id)
        if channel is None:
            channel = self._channels[watch.stream_id] = _Channel()
        channel.watches[watch] = None
        self.wanted.set()
        if self.link is None:
            if self.down:  # do not keep the caller waiting; the next session arms it
                resolve(armed, False)
            return  # before the first connection: armed by the first session
        if len(channel.watches) == 1:  # was 0: the last command (if any) is an UNSUBSCRIBE
            self._send(channel, watch.stream_id, subscribe=True)
        elif not channel.sent:  # live already: only its key needs reading
            self._want_check(watch)

    def unregister(self, watch: Watch, done: concurrent.futures.Future[bool]) -> None:
        """Forget ``watch``; ``done`` completes once no subscription is left for it."""
        if not watch.registered:
            resolve(done, True)
            return
        watch.registered = False
        self.watch_count -= 1
        self._to_check.pop(watch, None)
        resolve(watch.armed, False)
        channel = self._channels[watch.stream_id]
        del channel.watches[watch]
        if channel.watches:
            resolve(done, True)
        elif self.link is not None:
            self._send(channel, watch.stream_id, subscribe=False, done=done)
        else:  # no session, no subscription (it died with the connection)
            if not channel.sent:
                del self._channels[watch.stream_id]
            resolve(done, True)

    def _send(
        self,
        channel: _Channel,
        stream_id: str,
        *,
        subscribe: bool,
        done: concurrent.futures.Future[bool] | None = None,
    ) -> None:
        assert self.link is not None
        channel.sent.append((subscribe, done))
        self.link.queue_pubsub(subscribe, self.name(stream_id))

    def confirmed(self, subscribe: bool, raw_channel: bytes) -> None:
        """Redis confirmed a SUBSCRIBE or UNSUBSCRIBE (read by the session's reader)."""
        stream_id = self.stream_of(raw_channel)
        channel = self._channels.get(stream_id) if stream_id is not None else None
        if channel is None or not channel.sent:
            raise ProtocolMismatch(f"unexpected {'subscribe' if subscribe else 'unsubscribe'} of {raw_channel!r}")
        expected, done = channel.sent.popleft()
        if expected is not subscribe:
            raise ProtocolMismatch(f"confirmations out of order for {raw_channel!r}")
        assert stream_id is not None
        if not channel.sent:
            if channel.watches:
                self._hook("subscribed", stream_id)
                for watch in channel.watches:
                    if not watch.checked:
                        self._want_check(watch)
            else:
                del self._channels[stream_id]
        resolve(done, True)  # last: the watch's exit returns with nothing of it left here

    def _want_check(self, watch: Watch) -> None:
        self._to_check[watch] = None
        if self.link is not None:
            self.link.wake()

    def take_checks(self) -> list[Watch]:
        batch = []
        for watch in self._to_check:
            batch.append(watch)
            if len(batch) == CHECK_BATCH:
                break
        for watch in batch:
            del self._to_check[watch]
        return batch

    def checked(self, watches: list[Watch], values: list[Any]) -> None:
        """The MGET of ``watches``' keys answered ``values``."""
        for watch, value in zip(watches, values, strict=True):
            if not watch.registered:
                continue
            watch.checked = True
            if value is not None:
                watch.controller.abort(decode_stop(watch.stream_id, value))
            resolve(watch.armed, True)

    def deliver(self, raw_channel: bytes, payload: Any) -> None:
        """A stop was published on a channel we subscribe to."""
        stream_id = self.stream_of(raw_channel)
        channel = self._channels.get(stream_id) if stream_id is not None else None
        if channel is None or not channel.watches:
            return  # an UNSUBSCRIBE of it is in flight
        assert stream_id is not None
        reason = decode_stop(stream_id, payload)
        for watch in list(channel.watches):  # a listener may end its watch
            watch.controller.abort(reason)

    # -- stops -------------------------------------------------------------------------
    def stop(self, stream_id: str, payload: bytes, future: concurrent.futures.Future[bool] | None) -> None:
        earlier = self._recent(stream_id)
        if earlier is None:
            stop = Stop(stream_id, payload, time.monotonic() + self.settings.ttl)
            self._journal[stream_id] = stop
            if future is not None:
                stop.futures.append(future)
            self._queue(stop)
        else:  # the same stream again: the first stop stands (first reason wins, as NX keeps it)
            stop = earlier
            if stop.delivered:
                resolve(future, True)
            elif future is not None:
                stop.futures.append(future)
        channel = self._channels.get(stream_id)
        if channel is not None and channel.watches:
            reason = decode_stop(stream_id, stop.payload)
            for watch in list(channel.watches):
                watch.controller.abort(reason)

    def _queue(self, stop: Stop) -> None:
        if not stop.queued:
            stop.queued = True
            self._outbox.append(stop)
            self.outbox_empty.clear()
            self.wanted.set()
            if self.link is not None:
                self.link.wake()

    def _recent(self, stream_id: str) -> Stop | None:
        self._expire()
        return self._journal.get(stream_id)

    def _expire(self) -> None:
        now = time.monotonic()
        journal = self._journal
        while journal:
            stream_id = next(iter(journal))
            stop = journal[stream_id]
            if stop.deadline > now:
                break
            del journal[stream_id]

    def take_stops(self) -> list[tuple[Stop, int]]:
        """Up to a batch of queued stops with their remaining TTL in ms; drops expired ones."""
        now = time.monotonic()
        batch = []
        for stop in self._outbox:
            remaining = int((stop.deadline - now) * 1000)
            batch.append((stop, remaining))
            if len(batch) == STOP_BATCH:
                break
        return batch

    def stops_written(self, batch: list[tuple[Stop, int]]) -> None:
        for stop, remaining in batch:
            popped = self._outbox.popleft()
            assert popped is stop
            stop.queued = False
            if remaining > 0:
                stop.delivered = True
                for future in stop.futures:
                    resolve(future, True)
            else:
                logger.warning("stop of stream %r expired before Redis could be reached; dropped", stop.stream_id)
                for future in stop.futures:
                    resolve(future, False)
            stop.futures.clear()
        if not self._outbox:
            self.outbox_empty.set()

    # -- sessions ----------------------------------------------------------------------
    def begin(self, link: Link) -> None:
        """A new session is up: subscribe every live channel again, replay recent stops."""
        self.link = link
        self.down = False
        self.sessions += 1
        for stream_id, channel in self._channels.items():
            assert not channel.sent
            if channel.watches:
                self._send(channel, stream_id, subscribe=True)
        if self.sessions > 1:
            self._expire()
            for stop in self._journal.values():
                self._queue(stop)
        link.wake()

    def unreachable(self) -> None:
        """An attempt to connect failed: release the callers waiting for their watch to arm."""
        self.down = True
        for channel in self._channels.values():
            for watch in channel.watches:
                resolve(watch.armed, False)

    def end(self) -> None:
        """The session is gone, and every subscription with it."""
        self.link = None
        self.down = True
        unsubscribed: list[concurrent.futures.Future[bool] | None] = []
        unarmed: list[concurrent.futures.Future[bool] | None] = []
        for stream_id, channel in list(self._channels.items()):
            # An UNSUBSCRIBE never confirmed: the connection took the subscription away.
            unsubscribed += (done for _, done in channel.sent)
            channel.sent.clear()
            if not channel.watches:
                del self._channels[stream_id]
            for watch in channel.watches:
                watch.checked = False
                unarmed.append(watch.armed)
        self._to_check.clear()
        # Last, as in confirmed(): the state is final by the time the callers wake.
        for future in unsubscribed:
            resolve(future, True)
        for future in unarmed:
            resolve(future, False)

    def shut(self) -> None:
        """The bus is closing: complete every caller's future."""
        self.end()
        for stop in self._outbox:
            for future in stop.futures:
                resolve(future, False)
            stop.futures.clear()

    @property
    def has_work(self) -> bool:
        return bool(self._outbox or self._to_check)

    @property
    def subscribed(self) -> list[str]:
        """Stream ids with a subscription wanted (tests and leak checks)."""
        return [stream_id for stream_id, channel in self._channels.items() if channel.watches]

    @property
    def channel_count(self) -> int:
        return len(self._channels)


class ProtocolMismatch(Exception):
    """Redis's confirmations do not match what this bus sent: drop the session."""
