"""(f) N concurrent async streams, aborted at once by one controller.

N ``AsyncOpenAI`` streams share one client (its connection limit raised). "abortkit": the client
is instrumented and each stream is consumed like the providers do (request under
``abort_scope``, ``close_on_abort`` around ``abortable_iter``); "bare-shutdown": the floor from
``abortkit_cli.baselines`` on a plain client, measured in the same run. Two more floors say
what the stack itself costs, whoever does the aborting: "task-cancel" cancels every consumer task
with asyncio's own ``Task.cancel()`` (from one abort listener, through ``call_soon_threadsafe``):
the cheapest unwinding the loop offers through the SDK, httpx2, httpcore2 and anyio (not a usable
strategy: a cancelled consumer cannot tell an abort from a shutdown and loses its partial answer);
"raw-asyncio-cancel" does the same to consumers that read the same SSE stream with bare asyncio
streams, no HTTP library at all: the floor of the event loop. Once every stream
has received its first chunk and sits in a long gap, another thread calls ``abort()`` once; we
time until the last consumer is out, and how long ``abort()`` itself took (it runs every
listener on the aborting thread). Then the check that nothing is left open: the server saw
every client leave, the client's pool holds no connection, and the process holds as many
sockets as before.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai
from abortkit_cli.baselines import abortkit_close_on_abort_async, bare_shutdown_async
from abortkit_cli.stats import median

from abortkit import AbortController, AbortError, abort_scope, instrument
from abortkit.testing._script import Script
from abortkit.testing._server import MockLLMServer

from ._common import MESSAGES, MODEL, answering, open_sockets, servers, settle_sockets, wait_all_disconnected

NAME = "concurrent"
GAP = 30.0
SETTLE = 0.020  # after the last first chunk, before the abort


STRATEGIES = ("abortkit", "bare-shutdown", "task-cancel", "raw-asyncio-cancel")


CANCELLING = ("task-cancel", "raw-asyncio-cancel")


async def _raw_sse_read(base_url: str, on_item: Callable[[object], None]) -> None:
    """POST a streaming chat request over a bare asyncio connection and read SSE events until EOF."""
    location = urlsplit(base_url)
    body = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True}).encode()
    head = (
        f"POST {location.path}/chat/completions HTTP/1.1\r\nhost: {location.netloc}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(location.hostname, location.port)
    try:
        writer.write(head + body)
        await reader.readuntil(b"\r\n\r\n")
        while True:
            event = await reader.readuntil(b"\n\n")  # chunked framing lines ride along: fine here
            if b"data: " in event:
                on_item(event)
    except asyncio.IncompleteReadError:
        pass
    finally:
        writer.close()


def _plan(quick: bool) -> dict[int, int]:
    """N -> repeats (per strategy)."""
    return {1: 2, 10: 2, 100: 1} if quick else {1: 10, 10: 10, 100: 5, 1000: 2}


def _pool_connections(client: openai.AsyncOpenAI) -> int:
    pool = getattr(client._client._transport, "_pool", None)
    return len(getattr(pool, "connections", ()))


async def _trial(server: MockLLMServer, n: int, strategy: str) -> dict[str, Any]:
    sockets_before = open_sockets()
    first = server.request_count
    http = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=None, max_keepalive_connections=None))
    client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0, http_client=http)
    if strategy == "abortkit":
        instrument(client)
    controller = AbortController()
    signal = controller.signal
    ready = 0  # streams that got their first chunk, or failed before it
    all_ready = threading.Event()
    unwound: list[float] = []
    failures: list[tuple[float, str]] = []

    def on_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == n:
            all_ready.set()

    async def consume() -> None:
        first_item = True

        def on_item(item: object) -> None:
            nonlocal first_item
            if first_item:
                first_item = False
                on_ready()

        try:
            if strategy == "raw-asyncio-cancel":
                await _raw_sse_read(server.openai_base_url, on_item)
            elif strategy == "abortkit":
                async with abort_scope(signal):
                    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                    await abortkit_close_on_abort_async(stream, signal, on_item)
            elif strategy == "task-cancel":
                stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                async with stream:
                    async for item in stream:
                        on_item(item)
            else:
                stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
                await bare_shutdown_async(stream, signal, on_item)
        except AbortError:
            unwound.append(time.perf_counter())
        except asyncio.CancelledError:
            if strategy not in CANCELLING:
                raise
            unwound.append(time.perf_counter())
        except Exception as exc:
            failures.append((time.perf_counter(), f"{type(exc).__name__}: {exc}"))
            if first_item:
                on_ready()

    stamps: dict[str, float] = {}

    def aborter() -> None:
        if all_ready.wait(120.0):
            time.sleep(SETTLE)
            stamps["abort"] = time.perf_counter()
            controller.abort("benchmark")
            stamps["returned"] = time.perf_counter()

    if strategy in CANCELLING:
        loop = asyncio.get_running_loop()
        consumers: list[asyncio.Task[None]] = []

        def cancel_all() -> None:
            for task in consumers:
                task.cancel()

        signal.add_listener(lambda: loop.call_soon_threadsafe(cancel_all))

    thread = threading.Thread(target=aborter, name="bench-concurrent-aborter", daemon=True)
    setup = time.perf_counter()
    with answering(server, Script.thinking_gap(gap=GAP)):
        thread.start()
        tasks = [asyncio.ensure_future(consume()) for _ in range(n)]
        if strategy in CANCELLING:
            consumers.extend(tasks)
        await asyncio.gather(*tasks)
    thread.join()
    pool_left = _pool_connections(client)
    await client.close()
    requests = server.requests[first:]
    aborted_at = stamps.get("abort")
    before = [message for at, message in failures if aborted_at is None or at < aborted_at]
    after = [message for at, message in failures if aborted_at is not None and at >= aborted_at]
    done = sorted(unwound)
    return {
        "strategy": strategy,
        "n": n,
        "setup_s": (aborted_at or time.perf_counter()) - setup,
        "all_unwound_s": done[-1] - aborted_at if aborted_at is not None and done else None,
        "median_unwound_s": median(done) - aborted_at if aborted_at is not None and done else None,
        "abort_call_s": stamps["returned"] - aborted_at if aborted_at is not None else None,
        "aborted": len(done),
        "failed_before_abort": len(before),
        "failed_after_abort": len(after),  # not AbortError although aborted: a bug
        "failure_samples": sorted(set(before + after))[:3],
        "pool_connections_left": pool_left,
        "not_disconnected": wait_all_disconnected(server, requests, timeout=5.0),
        "sockets_left": settle_sockets(sockets_before),
    }


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    plan = _plan(quick)
    trials = []
    with servers(["plain"]) as running:
        for n, repeats in plan.items():
            log(f"  concurrent: {n} streams x {repeats} x {len(STRATEGIES)} strategies")
            for _ in range(repeats):
                for strategy in STRATEGIES:  # alternated, so drift hits both alike
                    trials.append(asyncio.run(_trial(running["plain"], n, strategy)))
    config = {
        "plan": {str(n): r for n, r in plan.items()},
        "gap": GAP,
        "settle": SETTLE,
        "strategies": list(STRATEGIES),
    }
    return {"config": config, "trials": trials}
