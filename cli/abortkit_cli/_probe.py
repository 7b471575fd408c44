"""``abortkit probe``: does ESC really stop a call through *your* endpoint or proxy?

Three calls: a normal one (time to first byte, and whether the reply streams or
arrives in one lump, as through a buffering proxy), one aborted while waiting for
the response headers, and one aborted after the first chunk. For the aborted calls it
reports the unwind time and whether the provider's connection was really closed,
then a verdict.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from abortkit import AbortController, AbortError

from ._endpoint import UsageError, describe_error, make_provider

__all__ = ["run_probe"]

PROMPT: Any = [{"role": "user", "content": "Count from 1 to 30, one number per line."}]
STREAMING_SPREAD = 0.05  # chunks spread over less than this look buffered, not streamed


def _open_connections(provider: Any) -> int:
    """Connections the provider's HTTP pool still holds open (0 after a clean abort)."""
    try:
        pool = provider.sdk_client()._client._transport._pool
        return sum(1 for connection in pool.connections if not connection.is_closed())
    except Exception:
        return -1


def _aborted_call(provider: Any, *, after_first_chunk: bool, delay: float) -> tuple[float | None, str | None]:
    """(unwind seconds, failure) for one call aborted at the chosen moment."""
    controller = AbortController()
    tripped: list[float] = []
    first = threading.Event()

    def trip() -> None:
        if after_first_chunk:
            first.wait(30)
        time.sleep(delay)
        tripped.append(time.perf_counter())
        controller.abort("probe")

    threading.Thread(target=trip, daemon=True).start()
    try:
        provider.chat_stream_response(PROMPT, abort_signal=controller.signal, on_text_chunk=lambda _t: first.set())
    except AbortError:
        return time.perf_counter() - tripped[0], None
    except Exception as error:
        return None, describe_error(error)
    return None, "the call completed before the abort (reply too short to abort mid-stream?)"


def run_probe(kind: str, base_url: str, model: str, api_key_env: str | None, out: TextIO = sys.stdout) -> int:
    try:
        provider = make_provider(kind, base_url, model, api_key_env)
    except UsageError as error:
        out.write(f"abortkit probe: {error}\n")
        return 2
    out.write(f"probing {kind} at {base_url} (model {model})\n")
    arrivals: list[float] = []
    started = time.perf_counter()
    try:
        provider.chat_stream_response(PROMPT, on_text_chunk=lambda _t: arrivals.append(time.perf_counter()))
    except Exception as error:
        out.write(f"abortkit probe: {describe_error(error)}\n")
        return 1
    if not arrivals:
        out.write("abortkit probe: the endpoint answered with no text\n")
        return 1
    ttfb = arrivals[0] - started
    spread = arrivals[-1] - arrivals[0]
    streams = len(arrivals) > 1 and spread >= STREAMING_SPREAD
    out.write(
        f"  time to first text:        {ttfb * 1000:8.1f} ms ({len(arrivals)} chunks over {spread * 1000:.1f} ms)\n"
    )

    problems: list[str] = []
    if not streams:
        problems.append("the reply arrived in one lump: something between you and the model buffers the stream")
    for label, after_first, delay in (("waiting for headers", False, min(0.05, ttfb / 4)),
                                      ("mid-stream", True, 0.0)):
        unwind, failure = _aborted_call(provider, after_first_chunk=after_first, delay=delay)
        still_open = _open_connections(provider)
        if failure is not None:
            out.write(f"  abort {label:<21} failed: {failure}\n")
            problems.append(f"abort {label}: {failure}")
            continue
        assert unwind is not None
        closed = {0: "closed", -1: "unknown"}.get(still_open, f"{still_open} still open")
        out.write(f"  abort {label:<21} unwound in {unwind * 1000:7.2f} ms; connection {closed}\n")
        if still_open > 0:
            problems.append(f"abort {label}: the connection stayed open")
        if unwind > 0.1:
            problems.append(f"abort {label}: took {unwind * 1000:.0f} ms")
    if problems:
        out.write("verdict: PROBLEMS\n" + "".join(f"  - {p}\n" for p in problems))
        return 1
    out.write("verdict: OK: an abort stops this endpoint at once and closes the connection\n")
    return 0
