"""Bad input for ``abortkit.fleet``'s public names: refused up front with a TypeError or
ValueError naming what was wrong, before the bus starts a thread or reaches Redis.

The rows run on the shared mechanism (``tests/_helpers/bad_input.py``: no thread, no
descriptor, no listener left by a failed call); the guard that every public name has a
row is ``tests/test_public_names.py``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from abortkit.fleet import RedisStopBus
from abortkit.testing import MockLLMServer, RedisServer
from tests._helpers.bad_input import Env, Row, Table, check_row

FLEET = "abortkit.fleet"
URL = "redis://127.0.0.1:1/0"  # never reached: every row fails before connecting


def _bus(**options: Any) -> RedisStopBus:
    return RedisStopBus(options.pop("url", URL), **options)


def _not_started(env: Env) -> None:
    assert env.last is None or env.last._runner is None, "a refused call started the bus"


def _calling(method: str, *args: Any, **kwargs: Any) -> Callable[[Env], object]:
    def call(env: Env) -> object:
        bus = env.last = _bus()
        if method == "astop":
            return asyncio.run(bus.astop(*args, **kwargs))
        return getattr(bus, method)(*args, **kwargs)

    return call


_CONSTRUCTOR: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("url-int", {"url": 6379}, TypeError, r"RedisStopBus url must be a str, not int"),
    ("url-bytes", {"url": b"redis://x"}, TypeError, r"RedisStopBus url must be a str, not bytes"),
    ("url-http", {"url": "http://127.0.0.1:6379"}, ValueError, r"RedisStopBus url must start with redis://"),
    ("url-no-scheme", {"url": "127.0.0.1:6379"}, ValueError, r"RedisStopBus url must start with redis://"),
    ("ttl-zero", {"ttl": 0}, ValueError, r"RedisStopBus ttl must be"),
    ("ttl-negative", {"ttl": -1}, ValueError, r"RedisStopBus ttl must be"),
    ("ttl-nan", {"ttl": math.nan}, ValueError, r"RedisStopBus ttl must be"),
    ("ttl-inf", {"ttl": math.inf}, ValueError, r"RedisStopBus ttl must be"),
    ("ttl-under-a-ms", {"ttl": 0.0001}, ValueError, r"RedisStopBus ttl must be at least 0\.001"),
    ("ttl-str", {"ttl": "600"}, TypeError, r"RedisStopBus ttl must be a number, not str"),
    ("ttl-bool", {"ttl": True}, TypeError, r"RedisStopBus ttl must be a number, not bool"),
    ("prefix-empty", {"prefix": ""}, ValueError, r"RedisStopBus prefix must not be empty"),
    ("prefix-int", {"prefix": 1}, TypeError, r"RedisStopBus prefix must be a str"),
    ("prefix-newline", {"prefix": "a\nb"}, ValueError, r"RedisStopBus prefix must not contain control"),
    ("reconnect-zero", {"reconnect_max_delay": 0}, ValueError, r"RedisStopBus reconnect_max_delay must be"),
    ("heartbeat-inf", {"heartbeat": math.inf}, ValueError, r"RedisStopBus heartbeat must be"),
    ("connect-timeout-none", {"connect_timeout": None}, TypeError, r"RedisStopBus connect_timeout must be a number"),
    ("io-timeout-negative", {"io_timeout": -0.5}, ValueError, r"RedisStopBus io_timeout must be"),
]

_STREAM_IDS: list[tuple[str, Any, type[Exception], str]] = [
    ("empty", "", ValueError, r"stream_id must not be empty"),
    ("none", None, TypeError, r"stream_id must be a str, not NoneType"),
    ("bytes", b"abc", TypeError, r"stream_id must be a str, not bytes"),
    ("int", 42, TypeError, r"stream_id must be a str, not int"),
    ("nul", "a\x00b", ValueError, r"stream_id must not contain control characters"),
    ("newline", "line\nbreak", ValueError, r"stream_id must not contain control characters"),
    ("too-long", "x" * 513, ValueError, r"stream_id is too long: 513 bytes"),
    ("too-long-utf8", "é" * 257, ValueError, r"stream_id is too long: 514 bytes"),
    ("surrogate", "\ud800", ValueError, r"stream_id is not valid Unicode"),
]

_STOP_ARGUMENTS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("timeout-negative", {"timeout": -1}, ValueError, r"timeout must be >= 0"),
    ("timeout-str", {"timeout": "1"}, TypeError, r"timeout must be a number"),
    ("timeout-nan", {"timeout": math.nan}, ValueError, r"timeout must be"),
    ("reason-bytes", {"reason": b"x"}, TypeError, r"reason must be None, a str or a JSON value, not bytes"),
    ("reason-object", {"reason": object()}, TypeError, r"reason must be None, a str or a JSON value"),
    ("reason-nan", {"reason": math.nan}, ValueError, r"reason cannot be encoded as JSON"),
    ("reason-too-large", {"reason": "x" * 5000}, ValueError, r"reason is too large: at most 4096 bytes"),
]

ROWS: list[Row] = [
    *(
        Row(f"bus-{name}", f"{FLEET}:RedisStopBus", lambda e, o=options: _bus(**o), error, match)
        for name, options, error, match in _CONSTRUCTOR
    ),
    *(
        Row(
            f"{method}-stream-id-{name}",
            f"{FLEET}:RedisStopBus.{method}",
            _calling(method, stream_id),
            error,
            rf"{method}\(\) {match}",
            check=_not_started,
        )
        for method in ("watch", "stop", "astop")
        for name, stream_id, error, match in _STREAM_IDS
    ),
    *(
        Row(
            f"{method}-{name}",
            f"{FLEET}:RedisStopBus.{method}",
            _calling(method, "s", **kwargs),
            error,
            rf"{method}\(\) {match}",
            check=_not_started,
        )
        for method in ("stop", "astop")
        for name, kwargs, error, match in _STOP_ARGUMENTS
    ),
    Row("close-timeout-inf", f"{FLEET}:RedisStopBus.close", _calling("close", math.inf), ValueError,
        r"close\(\) timeout must be >= 0 and finite"),
    Row("close-timeout-str", f"{FLEET}:RedisStopBus.close", _calling("close", "1"), TypeError,
        r"close\(\) timeout must be a number, not str"),
]  # fmt: skip

EXEMPT: dict[str, str] = {
    f"{FLEET}:StopRequested": "an exception type: the abort reason the bus builds, not built by callers",
    f"{FLEET}:StopWatch": "built by RedisStopBus.watch, whose rows check its argument",
}

TABLE = Table(
    FLEET,
    ROWS,
    EXEMPT,
    frozenset(f"{FLEET}:RedisStopBus.{method}" for method in ("watch", "stop", "astop", "close")),
)


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", TABLE.params())
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    check_row(row, Env(server))


def test_redis_server_without_the_executable_says_what_to_install() -> None:
    # (RedisServer's argument rows are in tests/testing/test_bad_input.py, with abortkit.testing)
    with pytest.raises(FileNotFoundError, match=r"no-such-redis-server.*apt-get install redis-server"):
        RedisServer(executable="no-such-redis-server")
