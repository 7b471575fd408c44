"""abortkit.testing: prove abort handling against real sockets and real SDKs.

* ``MockLLMServer``: a real HTTP/1.1 server on 127.0.0.1 (optionally TLS with a
  trustme CA) that speaks, byte-exactly enough for the real SDKs, OpenAI chat completions
  and Responses, Anthropic messages (and Minimax), Gemini ``streamGenerateContent`` (SSE),
  Ollama ``/api/chat`` (NDJSON) and Bedrock ``converse-stream`` (AWS event stream); it
  answers from ``Script`` objects (gaps, keepalive pings, stalls, resets, malformed bytes,
  in-stream and HTTP errors) and records every request, including when the client
  disconnected.
* ``BufferingProxy``: a loopback proxy that holds upstream bytes, as LiteLLM or a
  corporate proxy can (headers only once the model starts answering), and passes a
  client's abort upstream as nginx does, as LiteLLM does (only after the first token), or
  never (``client_abort``; ``BufferingProxy.litellm()``, ``BufferingProxy.nginx()``).
* The race harness: hypothesis strategies that choose when and from which thread the
  signal trips, and ``run_race``, which checks the invariants (no abort lost, no item
  after the abort, no listener after exit, nothing left behind).
* ``RedisServer``: a real ``redis-server`` on a free loopback port that can be killed
  and restarted mid-test, for the stop bus (``abortkit.fleet``).
* A pytest plugin (entry point ``pytest11``) with fixtures ``mock_llm_server``,
  ``mock_llm_server_tls``, ``abort_controller`` and ``race_runner``.

The server and the proxy need the ``mock-server`` extra (h11; trustme for TLS), the race
harness the ``race`` extra (hypothesis); ``pip install 'abortkit[testing]'`` installs both,
and pytest. Names are imported lazily, so that the pytest plugin costs nothing where the
extras are not installed, and a missing one is named in one line (an ``ImportError``:
``... needs h11, which is not installed: pip install 'abortkit[mock-server]'``).
"""

from __future__ import annotations

import importlib

from ._extras import missing_extra

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms with re)

if TYPE_CHECKING:
    from typing import Any

    from ._proxy import BufferingProxy, ClientAbort, ProxyMode
    from ._race import (
        Checkpoints,
        Delivered,
        ListenerRun,
        RaceHung,
        RacePlan,
        RaceResult,
        Reached,
        TripThread,
        bytecode_steps,
        race_plans,
        run_race,
        signal_handler_trips_available,
        trip_delays,
        trip_points,
        trip_threads,
    )
    from ._records import ProxiedRequest, RecordedRequest
    from ._redis import RedisServer
    from ._resources import AsyncSlowStream, CloseCall, SlowStream, StreamClosed
    from ._script import (
        Gap,
        HTTPError,
        Malformed,
        Reset,
        Script,
        Stall,
        StreamError,
        Text,
        Thinking,
        ToolCall,
        Truncate,
    )
    from ._server import MockLLMServer

_WHERE = {
    "BufferingProxy": "_proxy",
    "ClientAbort": "_proxy",
    "ProxyMode": "_proxy",
    "ProxiedRequest": "_records",
    "RecordedRequest": "_records",
    "RedisServer": "_redis",
    "MockLLMServer": "_server",
    **dict.fromkeys(
        ("Gap", "HTTPError", "Malformed", "Reset", "Script", "Stall", "StreamError", "Text", "Thinking", "ToolCall",
         "Truncate"),
        "_script",
    ),
    **dict.fromkeys(
        ("Checkpoints", "Delivered", "ListenerRun", "RaceHung", "RacePlan", "RaceResult", "Reached", "TripThread",
         "race_plans", "run_race", "signal_handler_trips_available", "trip_delays", "trip_points", "trip_threads",
         "bytecode_steps"),
        "_race",
    ),
    **dict.fromkeys(("AsyncSlowStream", "CloseCall", "SlowStream", "StreamClosed"), "_resources"),
}

__all__ = [
    "AsyncSlowStream",
    "BufferingProxy",
    "Checkpoints",
    "ClientAbort",
    "CloseCall",
    "Delivered",
    "Gap",
    "HTTPError",
    "ListenerRun",
    "Malformed",
    "MockLLMServer",
    "ProxiedRequest",
    "ProxyMode",
    "RaceHung",
    "RacePlan",
    "RaceResult",
    "Reached",
    "RecordedRequest",
    "RedisServer",
    "Reset",
    "Script",
    "SlowStream",
    "Stall",
    "StreamClosed",
    "StreamError",
    "Text",
    "Thinking",
    "ToolCall",
    "TripThread",
    "Truncate",
    "bytecode_steps",
    "race_plans",
    "run_race",
    "signal_handler_trips_available",
    "trip_delays",
    "trip_points",
    "trip_threads",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'abortkit.testing' has no attribute {name!r}")
    try:
        imported = importlib.import_module(f"{__name__}.{module}")
    except ImportError as error:
        missing = missing_extra(error, f"{__name__}.{name}")
        if missing is None:
            raise
        raise missing from None  # the message names the module and the extra
    value = getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted((*globals(), *_WHERE))
