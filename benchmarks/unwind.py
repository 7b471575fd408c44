"""(a) Unwind latency after an abort mid-gap, per strategy, SDK, sync/async and transport.

The server sends one chunk, then goes silent; another thread calls ``abort()`` 20-50 ms into
the silence (uniformly at random, so nothing phase-locks with it) and we time until the
consumer is out. Strategies are interleaved round by round, in a shuffled order, so machine
noise spreads evenly over them. The sync seed pattern (close-only) waits for the next chunk,
so it gets a shorter gap and fewer trials; its figure is "the rest of the gap".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from abortkit_cli.baselines import ASYNC_STRATEGIES, SYNC_STRATEGIES, measure_unwind, measure_unwind_async

from abortkit.testing._script import Script

from ._common import (
    Target,
    answering,
    open_sockets,
    provider,
    provider_call,
    provider_call_async,
    servers,
    settle_sockets,
    wait_all_disconnected,
)

NAME = "unwind"
GAP = 1.0
CLOSE_ONLY_GAP = 0.5
ABORT_WINDOW = (0.020, 0.050)
PROVIDER = "abortkit-provider"
PROVIDER_ON = {"openai": "openai-compatible", "anthropic": "anthropic"}  # the provider built on each SDK


@dataclass(frozen=True)
class Config:
    rounds: int
    warmup: int
    slow_every: int  # the sync close-only strategy runs one round in this many

    @classmethod
    def for_run(cls, quick: bool) -> Config:
        return cls(rounds=6, warmup=1, slow_every=3) if quick else cls(rounds=100, warmup=3, slow_every=5)


def _plan(cfg: Config, names: list[str], slow: set[str], rng: random.Random) -> Iterator[tuple[str, bool]]:
    """(strategy, recorded) in the order to run them: shuffled rounds, slow ones less often."""
    for r in range(cfg.warmup + cfg.rounds):
        recorded = r >= cfg.warmup
        index = r - cfg.warmup if recorded else r
        chosen = [n for n in names if n not in slow or index % cfg.slow_every == 0]
        rng.shuffle(chosen)
        for name in chosen:
            yield name, recorded


def _new_series(names: list[str], slow: set[str]) -> dict[str, dict[str, Any]]:
    return {
        n: {"samples": [], "abort_after": [], "gap": CLOSE_ONLY_GAP if n in slow else GAP, "errors": []} for n in names
    }


def _sync_cell(target: Target, cfg: Config, rng: random.Random) -> dict[str, Any]:
    server = target.server
    sockets_before = open_sockets()
    first = server.request_count
    client = target.sync_client()
    prov = provider(PROVIDER_ON[target.sdk], server, asynchronous=False)
    runners: dict[str, tuple[Callable[..., object], Callable[[], Any]]] = {
        name: (strategy, lambda: target.open_sync(client)) for name, strategy in SYNC_STRATEGIES.items()
    }
    runners[PROVIDER] = (provider_call, lambda: prov)
    slow = {"close-only"}
    series = _new_series(list(runners), slow)
    for name, recorded in _plan(cfg, list(runners), slow, rng):
        abort_after = rng.uniform(*ABORT_WINDOW)
        strategy, make = runners[name]
        with answering(server, Script.thinking_gap(gap=series[name]["gap"])):
            try:
                elapsed = measure_unwind(strategy, make, abort_after=abort_after)
            except Exception as exc:
                series[name]["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
        if recorded:
            series[name]["samples"].append(elapsed)
            series[name]["abort_after"].append(abort_after)
    client.close()
    prov.sdk_client().close()
    return _finish(target, "sync", series, server, first, sockets_before)


async def _async_cell(target: Target, cfg: Config, rng: random.Random) -> dict[str, Any]:
    server = target.server
    sockets_before = open_sockets()
    first = server.request_count
    client = target.async_client()
    prov = provider(PROVIDER_ON[target.sdk], server, asynchronous=True)

    async def open_stream() -> Any:
        return await target.open_async(client)

    async def the_provider() -> Any:
        return prov

    runners: dict[str, tuple[Callable[..., Any], Callable[[], Any]]] = {
        name: (strategy, open_stream) for name, strategy in ASYNC_STRATEGIES.items()
    }
    runners[PROVIDER] = (provider_call_async, the_provider)
    series = _new_series(list(runners), set())
    for name, recorded in _plan(cfg, list(runners), set(), rng):
        abort_after = rng.uniform(*ABORT_WINDOW)
        strategy, make = runners[name]
        with answering(server, Script.thinking_gap(gap=series[name]["gap"])):
            try:
                elapsed = await measure_unwind_async(strategy, make, abort_after=abort_after)
            except Exception as exc:
                series[name]["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
        if recorded:
            series[name]["samples"].append(elapsed)
            series[name]["abort_after"].append(abort_after)
    await client.close()
    await prov.sdk_client(True).close()
    return _finish(target, "async", series, server, first, sockets_before)


def _finish(
    target: Target, mode: str, series: dict[str, Any], server: Any, first: int, sockets_before: int
) -> dict[str, Any]:
    requests = server.requests[first:]
    return {
        "sdk": target.sdk,
        "mode": mode,
        "transport": "tls" if server.tls else "plain",
        "series": series,
        "requests": len(requests),
        # Orphaned polling workers and close-only consumers leave at the next chunk: wait a gap.
        "not_disconnected": wait_all_disconnected(server, requests, timeout=GAP + 2.0),
        "sockets_left": settle_sockets(sockets_before),
    }


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    cfg = Config.for_run(quick)
    rng = random.Random(20240611)
    cells = []
    with servers(["plain", "tls"]) as running:
        for sdk in ("openai", "anthropic"):
            for mode in ("sync", "async"):
                for transport in ("plain", "tls"):
                    target = Target(sdk, running[transport])
                    log(f"  unwind: {sdk} {mode} {transport}")
                    if mode == "sync":
                        cells.append(_sync_cell(target, cfg, rng))
                    else:
                        cells.append(asyncio.run(_async_cell(target, cfg, rng)))
    return {
        "config": {
            "rounds": cfg.rounds,
            "warmup": cfg.warmup,
            "slow_every": cfg.slow_every,
            "gap": GAP,
            "close_only_gap": CLOSE_ONLY_GAP,
            "abort_window": list(ABORT_WINDOW),
        },
        "cells": cells,
    }
