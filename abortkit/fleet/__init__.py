"""Stop a stream from any process of a fleet, over Redis.

The user's Stop reaches whichever worker the load balancer picks; the stream runs on
another. ``RedisStopBus(url)`` connects them: the worker that streams wraps the call
in ``with bus.watch(stream_id) as signal:`` (or ``async with``) and passes ``signal``
to abortkit as usual; any process calls ``bus.stop(stream_id, reason)`` (or ``await
bus.astop(...)``), and the signal aborts with a ``StopRequested`` reason. A stop issued
before the watch starts, while it starts, while Redis is down or while the watcher is
reconnecting is not lost (see ``_engine`` for why). Needs the ``redis`` extra.

Public names: ``RedisStopBus``, ``StopWatch`` (what ``watch`` returns), ``StopRequested``.
"""

try:
    import redis.asyncio  # noqa: F401  (the bus is built on redis-py's asyncio client)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "abortkit.fleet needs the redis package (redis-py 5 or later): pip install 'abortkit[redis]'"
    ) from exc

from ._bus import RedisStopBus, StopWatch
from ._reason import StopRequested

__all__ = ["RedisStopBus", "StopRequested", "StopWatch"]
