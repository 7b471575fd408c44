"""(e) Per-chunk overhead against stream length: the real SDK with and without abortkit.

A burst of N chunks (back to back) is streamed to completion through the SDK, plainly
("sdk": a plain client, a bare loop) and the way the providers do it ("abortkit": an
instrumented client, the request under ``abort_scope``, ``close_on_abort`` around
``abortable_iter``, with a live signal). The whole call is timed (request included), so at
small N the fixed cost of setting up the abort machinery shows, and at large N the
per-chunk cost. Two clocks: wall time, and the CPU time of the consuming thread
(``time.thread_time``: the SDK's and abortkit's own work, not the time spent waiting for the
server, for the GIL or for other processes on a busy machine), from which the overhead is
computed. The two variants alternate, and each pair is compared (paired difference), which
cancels most of the drift of a loaded machine. The mock server runs in the same process, so
its thread shares the GIL with the client: absolute wall throughput is lower than against a
remote server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from abortkit_cli.stats import median

from abortkit import AbortController, abort_scope, abortable_iter, close_on_abort, instrument
from abortkit.testing._script import Script

from ._common import MESSAGES, MODEL, Target, answering, servers

NAME = "chunks"
VARIANTS = ("sdk", "abortkit")


def _plan(quick: bool) -> dict[int, int]:
    """N -> repeats."""
    if quick:
        return {10: 2, 100: 2, 1000: 1}
    return {10: 15, 100: 10, 1000: 5, 10_000: 2}


def _sync_once(target: Target, client: Any, variant: str) -> int:
    count = 0
    if variant == "sdk":
        if target.sdk == "openai":
            with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
                for _ in stream:
                    count += 1
        else:
            with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
                for _ in stream:
                    count += 1
        return count
    signal = AbortController().signal
    if target.sdk == "openai":
        with abort_scope(signal):
            stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            with stream, close_on_abort(signal, stream):
                for _ in abortable_iter(stream, signal):
                    count += 1
    else:
        with (
            abort_scope(signal),
            client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream,
            close_on_abort(signal, stream),
        ):
            for _ in abortable_iter(stream, signal):
                count += 1
    return count


async def _async_once(target: Target, client: Any, variant: str) -> int:
    count = 0
    if variant == "sdk":
        if target.sdk == "openai":
            async with await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
                async for _ in stream:
                    count += 1
        else:
            async with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
                async for _ in stream:
                    count += 1
        return count
    signal = AbortController().signal
    if target.sdk == "openai":
        async with abort_scope(signal):
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            async with stream, close_on_abort(signal, stream):
                async for _ in abortable_iter(stream, signal):
                    count += 1
    else:
        async with (
            abort_scope(signal),
            client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream,
            close_on_abort(signal, stream),
        ):
            async for _ in abortable_iter(stream, signal):
                count += 1
    return count


Series = dict[str, dict[str, dict[str, list[float]]]]  # N -> variant -> clock -> seconds


def _new_series(plan: dict[int, int]) -> Series:
    return {str(n): {v: {"wall": [], "cpu": []} for v in VARIANTS} for n in plan}


def _sync_mode(target: Target, plan: dict[int, int]) -> dict[str, Any]:
    clients = {"sdk": target.sync_client(), "abortkit": instrument(target.sync_client())}
    times = _new_series(plan)
    for variant in VARIANTS:  # warm-up: the SDK's first-use costs
        with answering(target.server, Script.burst(10)):
            _sync_once(target, clients[variant], variant)
    for n, repeats in plan.items():
        with answering(target.server, Script.burst(n)):
            for r in range(repeats):
                for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                    start, cpu = time.perf_counter(), time.thread_time()
                    _sync_once(target, clients[variant], variant)
                    times[str(n)][variant]["cpu"].append(time.thread_time() - cpu)
                    times[str(n)][variant]["wall"].append(time.perf_counter() - start)
    for client in clients.values():
        client.close()
    return {"sdk": target.sdk, "mode": "sync", "times": times}


async def _async_mode(target: Target, plan: dict[int, int]) -> dict[str, Any]:
    clients = {"sdk": target.async_client(), "abortkit": instrument(target.async_client())}
    times = _new_series(plan)
    for variant in VARIANTS:
        with answering(target.server, Script.burst(10)):
            await _async_once(target, clients[variant], variant)
    for n, repeats in plan.items():
        with answering(target.server, Script.burst(n)):
            for r in range(repeats):
                for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                    start, cpu = time.perf_counter(), time.thread_time()
                    await _async_once(target, clients[variant], variant)
                    times[str(n)][variant]["cpu"].append(time.thread_time() - cpu)
                    times[str(n)][variant]["wall"].append(time.perf_counter() - start)
    for client in clients.values():
        await client.close()
    return {"sdk": target.sdk, "mode": "async", "times": times}


def paired_overhead(times: dict[str, dict[str, list[float]]], clock: str = "cpu") -> float:
    """Median over the pairs of (abortkit - sdk), in seconds per call."""
    pairs = zip(times["abortkit"][clock], times["sdk"][clock], strict=True)
    return median(a - s for a, s in pairs)


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    plan = _plan(quick)
    modes = []
    with servers(["plain"]) as running:
        for sdk in ("openai", "anthropic"):
            target = Target(sdk, running["plain"])
            log(f"  chunks: {sdk} sync")
            modes.append(_sync_mode(target, plan))
            log(f"  chunks: {sdk} async")
            modes.append(asyncio.run(_async_mode(target, plan)))
    return {"config": {"plan": {str(n): r for n, r in plan.items()}}, "modes": modes}
