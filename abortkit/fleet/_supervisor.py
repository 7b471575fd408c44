"""The bus loop's main task: keep a session with Redis up, reconnecting with back-off.

The first connection is made when something needs Redis (a watch or a stop). After a
failure the next attempt comes after a delay that starts at ``INITIAL_DELAY`` and
doubles up to ``reconnect_max_delay`` (each delay drawn in its upper half, so that a
fleet restarted together does not reconnect in lockstep). Hence the bound the README
states: once Redis accepts connections again, every bus is back within
``reconnect_max_delay`` plus a connect, and its first commands re-subscribe, re-check
and re-send everything that was pending.
"""

from __future__ import annotations

import asyncio
import logging
import random

from ._engine import Engine
from ._session import Session

__all__ = ["INITIAL_DELAY", "supervise"]

logger = logging.getLogger("abortkit")

INITIAL_DELAY = 0.02


async def supervise(engine: Engine) -> None:
    """Run until cancelled (the bus closing)."""
    delay = INITIAL_DELAY
    while True:
        await engine.wanted.wait()
        try:
            session = await Session.open(engine)
        except Exception as exc:
            logger.debug("RedisStopBus: cannot reach Redis (%s); retrying", exc)
            engine.unreachable()
        else:
            delay = INITIAL_DELAY
            engine.begin(session)
            try:
                await session.run()
            except Exception as exc:
                logger.warning("RedisStopBus: lost the connection to Redis (%s); reconnecting", exc)
            finally:
                engine.end()
                await session.close()
        await asyncio.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, engine.settings.reconnect_max_delay)
