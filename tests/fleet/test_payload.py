"""The reason travels as JSON, and only as JSON: what arrives from Redis is parsed as
data (never unpickled); an unreadable payload is still a stop, with reason None."""

from __future__ import annotations

import json
import logging
import math
import pickle
from collections.abc import Callable

import pytest
import redis

from abortkit.fleet import RedisStopBus, StopRequested
from abortkit.fleet._reason import MAX_REASON_BYTES, decode_stop, encode_stop

from ._support import wait_until

Bus = Callable[..., RedisStopBus]


@pytest.mark.parametrize(
    "reason",
    [None, "", "user pressed Stop", "ünïcødé ✋", {"by": "user", "turn": 3, "ok": True}, [1, 2.5, None], 7],
)
def test_reasons_round_trip(reason: object) -> None:
    stop = decode_stop("s", encode_stop(reason))
    assert (stop.stream_id, stop.reason) == ("s", reason)
    assert stop.issued_at is not None


def _deeply_nested() -> list[object]:
    """Nested beyond what the JSON encoder recurses into."""
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("reason", "error", "match"),
    [
        (b"bytes", TypeError, "not bytes"),
        (object(), TypeError, "not object"),
        ({1, 2}, TypeError, "not set"),
        (math.nan, ValueError, "JSON"),
        ({"x": math.inf}, ValueError, "JSON"),
        ("x" * (MAX_REASON_BYTES + 1), ValueError, "too large"),
        (_deeply_nested(), ValueError, "JSON"),
    ],
)
def test_reasons_that_cannot_travel_are_refused(reason: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        encode_stop(reason)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe",
        pickle.dumps({"v": 1, "reason": "pickled"}),
        json.dumps({"reason": "no version"}).encode(),
        json.dumps(["v", 1]).encode(),
        b"[" * 3000 + b"]" * 3000,
        json.dumps({"v": 1, "reason": "x" * 10_000}).encode(),
    ],
)
def test_an_unreadable_payload_is_a_stop_without_reason(payload: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="abortkit"):
        stop = decode_stop("s", payload)
    assert (stop.stream_id, stop.reason, stop.issued_at) == ("s", None, None)
    assert "unreadable payload" in caplog.text


def test_a_foreign_publish_on_the_channel_stops_with_reason_none(make_bus: Bus, redis_client: redis.Redis) -> None:
    bus = make_bus()
    with bus.watch("foreign") as signal:
        redis_client.publish("abortkit:stop:foreign", pickle.dumps("would run code if unpickled"))
        wait_until(lambda: signal.aborted, "the foreign stop")
        assert isinstance(signal.reason, StopRequested) and signal.reason.reason is None


def test_stop_requested_pickles_for_multiprocessing() -> None:
    original = StopRequested("s", {"a": 1}, 12.5)
    copy = pickle.loads(pickle.dumps(original))
    assert (copy.stream_id, copy.reason, copy.issued_at) == ("s", {"a": 1}, 12.5)
