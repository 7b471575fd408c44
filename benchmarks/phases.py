"""(b) Unwind latency per provider, sync and async, per phase of the call.

The procedure is ``abortkit_cli.trials`` (the one ``abortkit demo`` runs, so that both
print the same figures): phases already aborted, waiting for headers, between chunks and
mid-burst, interleaved in shuffled rounds after warm-up rounds. This module adds what only
the benchmark records: after each cell, whether the server saw every client leave and
whether the process's socket count came back to where it started.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from abortkit_cli import trials

from ._common import open_sockets, servers, settle_sockets, wait_all_disconnected

NAME = "phases"


def _rounds(quick: bool) -> tuple[int, int]:
    return (4, 1) if quick else (40, trials.WARMUP)


def _series(cell: trials.Cell) -> dict[str, dict[str, Any]]:
    """Per phase: the recorded samples, every error (warm-up included), requests over the recorded trials."""
    series = {}
    for phase in trials.phases_for(cell.provider):  # the others are a known limit: not run
        measured = [t for t in cell.recorded(phase.name) if t.unwind is not None]
        series[phase.name] = {
            "samples": [t.unwind for t in measured],
            "errors": [t.error for t in cell.trials if t.phase == phase.name and t.error],
            "requests": sum(t.requests for t in measured),
            "trials": len(measured),
        }
    return series


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    rng = random.Random(trials.SEED)
    rounds, warmup = _rounds(quick)
    cells = []
    with servers(["plain"]) as running:
        server = running["plain"]
        for name, mode in trials.cells():
            sockets_before, first = open_sockets(), server.request_count
            try:
                cell = trials.run_cell(name, mode, server, rounds=rounds, warmup=warmup, rng=rng)
            except ImportError as missing:  # its SDK's extra is not installed: the message names it
                log(f"  phases: {name} {mode} skipped: {missing}")
                continue
            for line in trials.describe(cell):
                log(f"  phases: {line}")
            cells.append(
                {
                    "provider": name,
                    "mode": mode,
                    "series": _series(cell),
                    "not_disconnected": wait_all_disconnected(server, server.requests[first:], timeout=3.0),
                    "sockets_left": settle_sockets(sockets_before),
                }
            )
    return {
        "config": {
            "rounds": rounds,
            "warmup": warmup,
            "seed": trials.SEED,
            "headers_abort_after": trials.HEADERS_ABORT_AFTER,
            "abort_window": list(trials.ABORT_WINDOW),
            "burst_chunks": trials.BURST_CHUNKS,
            "burst_abort_after_items": trials.BURST_ABORT_AFTER_ITEMS,
            "phases": [p.name for p in trials.PHASES],
        },
        "cells": cells,
    }
