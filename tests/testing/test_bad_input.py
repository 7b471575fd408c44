"""Bad input for ``abortkit.testing``'s public names: wrong types and values, refused clearly, leaving nothing.

The rows of the ``abortkit.testing`` package; the mechanism (what every row checks around
the failed call) is in ``tests/_helpers/bad_input.py``, and the guard that every public
name has a row in ``tests/test_public_names.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import abortkit.testing as testing
from abortkit.testing import (
    AsyncSlowStream,
    BufferingProxy,
    Gap,
    HTTPError,
    Malformed,
    MockLLMServer,
    RacePlan,
    Reset,
    Script,
    SlowStream,
    Stall,
    StreamError,
    Text,
    Thinking,
    Truncate,
    bytecode_steps,
    race_plans,
    run_race,
    signal_handler_trips_available,
    trip_delays,
    trip_points,
    trip_threads,
)
from tests._helpers.bad_input import Env, Row, Table, check_row

TESTING = "abortkit.testing"


# -- helpers used by the rows ----------------------------------------------------------------


def _server_not_started(env: Env, **options: Any) -> None:
    server = MockLLMServer(**options)
    try:
        server.start()
    finally:
        server.stop()


# -- the table -------------------------------------------------------------------------------

ROWS: list[Row] = [
    Row(
        "redis-server-port-zero",
        f"{TESTING}:RedisServer",
        lambda e: testing.RedisServer(port=0),
        ValueError,
        r"RedisServer port must be an int in 1\.\.65535",
    ),
    Row(
        "redis-server-executable-none",
        f"{TESTING}:RedisServer",
        lambda e: testing.RedisServer(executable=None),  # type: ignore[arg-type]
        TypeError,
        r"RedisServer executable must be a str",
    ),
    Row(
        "server-default-script-str",
        f"{TESTING}:MockLLMServer",
        lambda e: MockLLMServer(default_script="hello"),
        TypeError,
        r"default_script",
    ),
    Row(
        "server-host-int",
        f"{TESTING}:MockLLMServer",
        lambda e: _server_not_started(e, host=5),
        TypeError,
        r"host",
    ),
    Row(
        "server-enqueue-str",
        f"{TESTING}:MockLLMServer",
        lambda e: e.server.enqueue(Script(), "hello"),
        TypeError,
        r"not a Script or HTTPError: 'hello'",
    ),
    Row(
        "script-step-int",
        f"{TESTING}:Script",
        lambda e: Script(steps=[Text("a"), 5]),
        TypeError,
        r"not a script step: 5",
    ),
    Row(
        "script-head-delay-negative",
        f"{TESTING}:Script",
        lambda e: Script(head_delay=-1),
        ValueError,
        r"head_delay must be a finite number of seconds >= 0, got -1",
    ),
    Row(
        "script-head-delay-nan",
        f"{TESTING}:Script",
        lambda e: Script(head_delay=math.nan),
        ValueError,
        r"head_delay must be a finite number",
    ),
    Row(
        "script-status-low",
        f"{TESTING}:Script",
        lambda e: Script(status=99),
        ValueError,
        r"status must be an HTTP status between 200 and 599",
    ),
    Row(
        "script-status-str",
        f"{TESTING}:Script",
        lambda e: Script(status="200"),
        TypeError,
        r"status",
    ),
    Row(
        "script-head-delay-str",
        f"{TESTING}:Script",
        lambda e: Script(head_delay="1"),
        TypeError,
        r"head_delay",
    ),
    Row("script-burst-negative", f"{TESTING}:Script", lambda e: Script.burst(-1), ValueError, r"n_chunks must be >= 0"),
    Row(
        "script-thinking-gap-negative",
        f"{TESTING}:Script",
        lambda e: Script.thinking_gap(gap=-1),
        ValueError,
        r"Gap\.seconds must be a finite number of seconds >= 0",
    ),
    Row(
        "http-error-status-200",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(status=200),
        ValueError,
        r"HTTPError\.status must be between 400 and 599",
    ),
    Row(
        "http-error-retry-after-negative",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(retry_after=-1),
        ValueError,
        r"retry_after must be a finite number",
    ),
    Row(
        "http-error-head-delay-inf",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(head_delay=math.inf),
        ValueError,
        r"head_delay must be a finite number",
    ),
    Row(
        "http-error-status-str",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(status="500"),
        TypeError,
        r"status",
    ),
    Row(
        "proxy-ftp",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy("ftp://127.0.0.1:21"),
        ValueError,
        r"not an http\(s\) base URL: 'ftp://127\.0\.0\.1:21'",
    ),
    Row(
        "proxy-mode",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy(e.server.base_url, mode="slow"),
        ValueError,
        r"mode must be one of .*got 'slow'",
    ),
    Row(
        "proxy-url-int",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy(5),
        TypeError,
        r"upstream_base_url",
    ),
    Row(
        "proxy-client-abort-unknown",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy(e.server.base_url, client_abort="later"),
        ValueError,
        r"client_abort must be one of .*got 'later'",
    ),
    Row("gap-negative", f"{TESTING}:Gap", lambda e: Gap(-1), ValueError, r"Gap\.seconds must be a finite number"),
    Row("gap-inf", f"{TESTING}:Gap", lambda e: Gap(math.inf), ValueError, r"Gap\.seconds must be a finite number"),
    Row(
        "gap-keepalive-zero",
        f"{TESTING}:Gap",
        lambda e: Gap(1, keepalive_every=0),
        ValueError,
        r"keepalive_every must be > 0 seconds or None",
    ),
    Row("gap-str", f"{TESTING}:Gap", lambda e: Gap("1"), TypeError, r"seconds"),
    Row(
        "toolcall-chunk-size-zero",
        f"{TESTING}:ToolCall",
        lambda e: testing.ToolCall("f", chunk_size=0),
        ValueError,
        r"chunk_size must be >= 1",
    ),
    Row(
        "text-int",
        f"{TESTING}:Text",
        lambda e: Text(5),
        TypeError,
        r"text",
    ),
    Row(
        "thinking-int",
        f"{TESTING}:Thinking",
        lambda e: Thinking(5),
        TypeError,
        r"text",
    ),
    Row(
        "malformed-str",
        f"{TESTING}:Malformed",
        lambda e: Malformed("data: {"),
        TypeError,
        r"raw",
    ),
    Row(
        "stream-error-int",
        f"{TESTING}:StreamError",
        lambda e: StreamError(type=5),
        TypeError,
        r"type",
    ),
    Row("stall-args", f"{TESTING}:Stall", lambda e: Stall(1), TypeError, r"takes 1 positional argument"),
    Row("reset-args", f"{TESTING}:Reset", lambda e: Reset(1), TypeError, r"takes 1 positional argument"),
    Row("truncate-args", f"{TESTING}:Truncate", lambda e: Truncate(1), TypeError, r"takes 1 positional argument"),
    Row(
        "race-plan-thread",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(thread="ui"),
        ValueError,
        r"RacePlan thread must be one of .* not 'ui'",
    ),
    Row(
        "race-plan-offset",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(offset=-1),
        ValueError,
        r"RacePlan offset must be >= 0 seconds, not -1",
    ),
    Row(
        "race-plan-steps-negative",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at="x", steps=-1),
        ValueError,
        r"RacePlan steps must be an int >= 0 or None, not -1",
    ),
    Row("race-plan-steps-without-at", f"{TESTING}:RacePlan", lambda e: RacePlan(steps=3), ValueError, r"give `at` too"),
    Row(
        "race-plan-at-empty",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at=""),
        ValueError,
        r"a checkpoint label must not be empty",
    ),
    Row(
        "race-plan-at-zeroth",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at="read:0"),
        ValueError,
        r"checkpoint arrival counts start at 1: 'read:0'",
    ),
    Row(
        "race-plan-at-int",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at=5),
        TypeError,
        r"at",
    ),
    Row(
        "race-plans-nothing",
        f"{TESTING}:race_plans",
        lambda e: race_plans(),
        ValueError,
        r"race_plans\(\) needs checkpoint labels or a max_delay > 0",
    ),
    Row(
        "race-plans-max-steps",
        f"{TESTING}:race_plans",
        lambda e: race_plans(["x"], max_steps=-1),
        ValueError,
        r"max_steps must be >= 0, not -1",
    ),
    Row(
        "race-plans-empty-label",
        f"{TESTING}:race_plans",
        lambda e: race_plans([""]),
        ValueError,
        r"a checkpoint label must not be empty",
    ),
    Row(
        "trip-delays-negative",
        f"{TESTING}:trip_delays",
        lambda e: trip_delays(-1),
        ValueError,
        r"a maximum delay must be >= 0 seconds, not -1",
    ),
    Row(
        "run-race-plan-str",
        f"{TESTING}:run_race",
        lambda e: run_race(lambda s, c: None, "x"),
        TypeError,
        r"plan",
    ),
    Row(
        "trip-points-one-label",
        f"{TESTING}:trip_points",
        lambda e: trip_points("x"),
        TypeError,
        r"trip_points\(\) labels must be a collection of checkpoint labels",
    ),
    Row(
        "trip-threads-str",
        f"{TESTING}:trip_threads",
        lambda e: trip_threads(signal_handler="y"),
        TypeError,
        r"trip_threads\(\) signal_handler must be a bool or None, not str",
    ),
    Row(
        "bytecode-steps-negative",
        f"{TESTING}:bytecode_steps",
        lambda e: bytecode_steps(-1),
        ValueError,
        r"bytecode_steps\(\) max_steps must be >= 0, not -1",
    ),
    Row(
        "slow-stream-int",
        f"{TESTING}:SlowStream",
        lambda e: SlowStream(5),
        TypeError,
        r"SlowStream items must be an iterable of items, not int",
    ),
    Row(
        "slow-stream-negative-gap",
        f"{TESTING}:SlowStream",
        lambda e: SlowStream([1], gap=-1),
        ValueError,
        r"SlowStream gap must be >= 0, not -1",
    ),
    Row(
        "async-slow-stream-gap-str",
        f"{TESTING}:AsyncSlowStream",
        lambda e: AsyncSlowStream([1], gap="1"),
        TypeError,
        r"AsyncSlowStream gap must be a number, not str",
    ),
    Row(
        "signal-handler-trips-available-args",
        f"{TESTING}:signal_handler_trips_available",
        lambda e: signal_handler_trips_available(1),
        TypeError,
        r"takes 0 positional arguments",
    ),
]

EXEMPT: dict[str, str] = {
    f"{TESTING}:ProxyMode": "a typing alias",
    f"{TESTING}:RaceHung": "an exception type raised by the harness",
    f"{TESTING}:Checkpoints": "built by run_race and handed to the body, never by users",
    f"{TESTING}:Delivered": "a record written by the race harness",
    f"{TESTING}:ListenerRun": "a record written by the race harness",
    f"{TESTING}:Reached": "a record written by the race harness",
    f"{TESTING}:RaceResult": "a record returned by run_race",
    f"{TESTING}:CloseCall": "a record written by SlowStream.close",
    f"{TESTING}:StreamClosed": "an exception type raised by SlowStream",
    f"{TESTING}:RecordedRequest": "a record written by the mock server",
    f"{TESTING}:ProxiedRequest": "a record written by the proxy",
    f"{TESTING}:TripThread": "a typing alias",
    f"{TESTING}:ClientAbort": "a typing alias",
}

TABLE = Table(TESTING, ROWS, EXEMPT)


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", TABLE.params())
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    check_row(row, Env(server))
