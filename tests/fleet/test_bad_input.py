"""Bad input to the bus is refused up front with a TypeError/ValueError naming what was
wrong, before any thread starts or anything reaches Redis."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest

from abortkit.fleet import RedisStopBus
from abortkit.testing import RedisServer

URL = "redis://127.0.0.1:1/0"

CONSTRUCTOR_ROWS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"url": 6379}, TypeError, "url must be a str, not int"),
    ({"url": b"redis://x"}, TypeError, "url must be a str, not bytes"),
    ({"url": "http://127.0.0.1:6379"}, ValueError, "url must start with redis://"),
    ({"url": "127.0.0.1:6379"}, ValueError, "url must start with redis://"),
    ({"ttl": 0}, ValueError, "ttl must be"),
    ({"ttl": -1}, ValueError, "ttl must be"),
    ({"ttl": math.nan}, ValueError, "ttl must be"),
    ({"ttl": math.inf}, ValueError, "ttl must be"),
    ({"ttl": 0.0001}, ValueError, "ttl must be at least 0.001"),
    ({"ttl": "600"}, TypeError, "ttl must be a number, not str"),
    ({"ttl": True}, TypeError, "ttl must be a number, not bool"),
    ({"prefix": ""}, ValueError, "prefix must not be empty"),
    ({"prefix": 1}, TypeError, "prefix must be a str"),
    ({"prefix": "a\nb"}, ValueError, "prefix must not contain control"),
    ({"reconnect_max_delay": 0}, ValueError, "reconnect_max_delay must be"),
    ({"heartbeat": math.inf}, ValueError, "heartbeat must be"),
    ({"connect_timeout": None}, TypeError, "connect_timeout must be a number"),
    ({"io_timeout": -0.5}, ValueError, "io_timeout must be"),
]


@pytest.mark.parametrize(("options", "error", "match"), CONSTRUCTOR_ROWS)
def test_constructor_arguments(options: dict[str, Any], error: type[Exception], match: str) -> None:
    url = options.pop("url", URL)
    with pytest.raises(error, match=match):
        RedisStopBus(url, **options)


STREAM_IDS: list[tuple[Any, type[Exception], str]] = [
    ("", ValueError, "stream_id must not be empty"),
    (None, TypeError, "stream_id must be a str, not NoneType"),
    (b"abc", TypeError, "stream_id must be a str, not bytes"),
    (42, TypeError, "stream_id must be a str, not int"),
    ("a\x00b", ValueError, "stream_id must not contain control characters"),
    ("line\nbreak", ValueError, "stream_id must not contain control characters"),
    ("x" * 513, ValueError, "stream_id is too long: 513 bytes"),
    ("é" * 257, ValueError, "stream_id is too long: 514 bytes"),
    ("\ud800", ValueError, "stream_id is not valid Unicode"),
]


def _calls(bus: RedisStopBus) -> dict[str, Callable[[Any], Any]]:
    return {
        "watch()": bus.watch,
        "stop()": bus.stop,
        "astop()": lambda stream_id: asyncio.run(bus.astop(stream_id)),
    }


@pytest.mark.parametrize("call", ["watch()", "stop()", "astop()"])
@pytest.mark.parametrize(("stream_id", "error", "match"), STREAM_IDS)
def test_stream_ids(call: str, stream_id: Any, error: type[Exception], match: str) -> None:
    bus = RedisStopBus(URL)
    with pytest.raises(error, match=f"{call.replace('(', '[(]').replace(')', '[)]')} {match}"):
        _calls(bus)[call](stream_id)
    assert bus._runner is None  # refused before the bus started anything
    assert not [t for t in threading.enumerate() if t.name == "abortkit-fleet"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timeout": -1}, ValueError, "stop[(][)] timeout must be >= 0"),
        ({"timeout": "1"}, TypeError, "stop[(][)] timeout must be a number"),
        ({"timeout": math.nan}, ValueError, "stop[(][)] timeout"),
        ({"reason": b"x"}, TypeError, "stop[(][)] reason must be None, a str or a JSON value, not bytes"),
        ({"reason": object()}, TypeError, "stop[(][)] reason must be None, a str or a JSON value"),
    ],
)
def test_stop_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    bus = RedisStopBus(URL)
    with pytest.raises(error, match=match):
        bus.stop("s", **kwargs)
    with pytest.raises(error, match=match.replace("stop[(]", "astop[(]")):
        asyncio.run(bus.astop("s", **kwargs))
    assert bus._runner is None


def test_close_timeout(redis_server: RedisServer) -> None:
    bus = RedisStopBus(redis_server.url)
    with pytest.raises(ValueError, match=r"close[(][)] timeout must be"):
        bus.close(timeout=math.inf)
    with pytest.raises(TypeError, match=r"close[(][)] timeout must be a number"):
        bus.close(timeout="1")  # type: ignore[arg-type]
    bus.close()


def test_redis_server_without_the_executable_says_what_to_install() -> None:
    # (its argument rows are in tests/reliability/test_bad_input.py, with every public name)
    with pytest.raises(FileNotFoundError, match=r"no-such-redis-server.*apt-get install redis-server"):
        RedisServer(executable="no-such-redis-server")
