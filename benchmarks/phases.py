"""(b) Unwind latency per provider, sync and async, per phase of the call.

Phases: the signal already aborted before the call (no request may be sent), waiting for
headers (the server withholds the status line for 10 s; abort 50 ms after the call starts),
between chunks (one chunk, then silence; abort 20-50 ms in), mid-burst (thousands of chunks
back to back; abort after the 5th). Phases are interleaved in shuffled rounds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from abortkit_cli.baselines import measure_unwind, measure_unwind_async
from abortkit_providers import registry

from abortkit.testing._script import Script

from ._common import (
    answering,
    open_sockets,
    provider,
    provider_call,
    provider_call_async,
    servers,
    settle_sockets,
    wait_all_disconnected,
)

NAME = "phases"
PROVIDERS = tuple(registry.PROVIDERS)
ABORT_WINDOW = (0.020, 0.050)
HEADERS_ABORT_AFTER = 0.050
BURST_CHUNKS = 5000
BURST_ABORT_AFTER_ITEMS = 5


@dataclass(frozen=True)
class Phase:
    name: str
    script: Script | None  # None: no request may be sent
    abort_after: Callable[[random.Random], float | None]
    after_items: int


PHASES = (
    Phase("already aborted", None, lambda rng: None, 1),
    Phase("waiting for headers", Script.headers_after(10.0), lambda rng: HEADERS_ABORT_AFTER, 0),
    Phase("between chunks", Script.thinking_gap(gap=1.0), lambda rng: rng.uniform(*ABORT_WINDOW), 1),
    Phase("mid-burst", Script.burst(BURST_CHUNKS), lambda rng: 0.0, BURST_ABORT_AFTER_ITEMS),
)


def _rounds(quick: bool) -> tuple[int, int]:
    return (4, 1) if quick else (40, 2)


def _plan(rounds: int, warmup: int, rng: random.Random) -> list[tuple[Phase, bool]]:
    plan = []
    for r in range(warmup + rounds):
        order = list(PHASES)
        rng.shuffle(order)
        plan += [(phase, r >= warmup) for phase in order]
    return plan


def _new_series() -> dict[str, dict[str, Any]]:
    return {p.name: {"samples": [], "errors": [], "requests": 0, "trials": 0} for p in PHASES}


def _cell(kind: str, mode: str, series: dict[str, Any], server: Any, first: int, sockets_before: int) -> dict[str, Any]:
    requests = server.requests[first:]
    return {
        "provider": kind,
        "mode": mode,
        "series": series,
        "not_disconnected": wait_all_disconnected(server, requests, timeout=3.0),
        "sockets_left": settle_sockets(sockets_before),
    }


def _sync(kind: str, server: Any, quick: bool, rng: random.Random) -> dict[str, Any]:
    sockets_before, first = open_sockets(), server.request_count
    prov = provider(kind, server, asynchronous=False)
    series = _new_series()
    for phase, recorded in _plan(*_rounds(quick), rng):
        before = server.request_count
        with answering(server, phase.script or Script.simple()):
            try:
                elapsed = measure_unwind(
                    provider_call, lambda: prov, abort_after=phase.abort_after(rng), after_items=phase.after_items
                )
            except Exception as exc:
                series[phase.name]["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
        if recorded:
            entry = series[phase.name]
            entry["samples"].append(elapsed)
            entry["trials"] += 1
            entry["requests"] += server.request_count - before
    prov.sdk_client().close()
    return _cell(kind, "sync", series, server, first, sockets_before)


async def _async(kind: str, server: Any, quick: bool, rng: random.Random) -> dict[str, Any]:
    sockets_before, first = open_sockets(), server.request_count
    prov = provider(kind, server, asynchronous=True)

    async def the_provider() -> Any:
        return prov

    series = _new_series()
    for phase, recorded in _plan(*_rounds(quick), rng):
        before = server.request_count
        with answering(server, phase.script or Script.simple()):
            try:
                elapsed = await measure_unwind_async(
                    provider_call_async, the_provider, abort_after=phase.abort_after(rng), after_items=phase.after_items
                )
            except Exception as exc:
                series[phase.name]["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
        if recorded:
            entry = series[phase.name]
            entry["samples"].append(elapsed)
            entry["trials"] += 1
            entry["requests"] += server.request_count - before
    await prov.sdk_client(True).close()
    return _cell(kind, "async", series, server, first, sockets_before)


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(20240612)
    rounds, warmup = _rounds(quick)
    cells = []
    with servers(["plain"]) as running:
        server = running["plain"]
        for kind in PROVIDERS:
            for mode in ("sync", "async"):
                log(f"  phases: {kind} {mode}")
                if mode == "sync":
                    cells.append(_sync(kind, server, quick, rng))
                else:
                    cells.append(asyncio.run(_async(kind, server, quick, rng)))
    return {
        "config": {
            "rounds": rounds,
            "warmup": warmup,
            "headers_abort_after": HEADERS_ABORT_AFTER,
            "abort_window": list(ABORT_WINDOW),
            "burst_chunks": BURST_CHUNKS,
            "burst_abort_after_items": BURST_ABORT_AFTER_ITEMS,
            "phases": [p.name for p in PHASES],
        },
        "cells": cells,
    }
