"""``abortkit demo``: every provider, sync and async, aborted in every phase, on the embedded server.

The trials are ``abortkit_cli.trials``, the procedure of ``python -m benchmarks --only
phases``, so the two print the same figures for the same cells (``--trials 40`` runs the
benchmark's very plan). Prints, as it goes, one line per provider/mode/phase with the
unwind latency, then a table beside three baselines measured in the same run on the same
server: the seed's close-only pattern (waits for the next chunk), a worker thread polled
every 100 ms, and the bare socket shutdown (the floor). Exits 1 with a message naming
the failures if any abort did not unwind correctly.
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any, TextIO

from abortkit_providers import registry

from . import trials
from .stats import median, summary

__all__ = ["run_demo"]

TARGET_P99_MS = 5.0


def _run_providers(server: Any, rounds: int, out: TextIO) -> tuple[list[trials.Cell], list[str]]:
    """Every cell; and, for a provider whose SDK is not installed, the line that says so."""
    rng = random.Random(trials.SEED)
    cells, skipped = [], []
    for name, mode in trials.cells():
        try:
            cell = trials.run_cell(name, mode, server, rounds=rounds, warmup=trials.WARMUP, rng=rng)
        except ImportError as missing:  # its SDK's extra is not installed: the message names it
            skipped.append(f"{name:<18} {mode:<5} skipped: {missing}")
            out.write(f"  {skipped[-1]}\n")
            continue
        for line in trials.describe(cell):
            out.write(f"  {line}\n")
        out.flush()
        cells.append(cell)
    return cells, skipped


def _run_baselines(server: Any, out: TextIO) -> list[tuple[str, list[float]]]:
    """The seed's close-only pattern, a 100 ms polling worker and the bare shutdown floor:
    same server, same run, the openai SDK (sync), a 1 s thinking gap aborted 20 ms in."""
    import openai

    from abortkit.testing import Script

    from . import baselines

    client = openai.OpenAI(base_url=server.openai_base_url, api_key="demo-key", max_retries=0)
    messages: Any = [{"role": "user", "content": "Tell me a story."}]

    def make_stream() -> Any:
        server.enqueue(Script.thinking_gap(first="Hello", gap=1.0, then=" world"))
        return client.chat.completions.create(model="demo-model", messages=messages, stream=True)

    rows: list[tuple[str, list[float]]] = []
    for label, strategy, count in (
        ("seed close-only (openai sync)", baselines.close_only, 3),
        ("100 ms polling worker (openai sync)", baselines.polling_worker, 5),
        ("bare shutdown floor (openai sync)", baselines.bare_shutdown, 10),
    ):
        unwinds = [baselines.measure_unwind(strategy, make_stream, abort_after=0.02) for _ in range(count)]
        out.write(f"  {label:<45} p50 {median(unwinds) * 1000:8.2f} ms  max {max(unwinds) * 1000:8.2f} ms\n")
        out.flush()
        rows.append((label, unwinds))
    client.close()
    return rows


def _ms(seconds: float) -> str:
    return "       -" if seconds != seconds else f"{seconds * 1000:8.2f}"  # NaN: nothing measured


def _table(cells: list[trials.Cell], baselines: list[tuple[str, list[float]]], out: TextIO) -> None:
    out.write("\nUnwind latency after an abort (time from abort() to AbortError caught)\n\n")
    out.write(
        f"| {'provider':<18} | {'mode':<5} | {'phase':<20} | {'p50 ms':>8} | {'p99 ms':>8} | {'max ms':>8} | result  |\n"
    )
    out.write(f"|{'-' * 20}|{'-' * 7}|{'-' * 22}|{'-' * 10}|{'-' * 10}|{'-' * 10}|---------|\n")
    for cell in cells:
        supported = trials.phases_for(cell.provider)
        for phase in trials.PHASES:
            s = summary(cell.unwinds(phase.name))
            ok = all(t.ok for t in cell.trials if t.phase == phase.name)
            verdict = "FAILED" if not ok else "ok" if phase in supported else "not yet"
            out.write(
                f"| {cell.provider:<18} | {cell.mode:<5} | {phase.name:<20} | {_ms(s['p50'])} | {_ms(s['p99'])} "
                f"| {_ms(s['max'])} | {verdict:<7} |\n"
            )
    for label, unwinds in baselines:
        s = summary(unwinds)
        out.write(f"| {label:<51} | {_ms(s['p50'])} | {_ms(s['p99'])} | {_ms(s['max'])} | base    |\n")


def run_demo(*, trials_per_cell: int = 5, out: TextIO = sys.stdout) -> int:
    """Run the demo (``trials_per_cell`` recorded rounds of every phase); returns the exit status."""
    try:
        from abortkit.testing import MockLLMServer
    except ImportError as missing:  # a missing extra, named in the message
        out.write(f"abortkit demo: {missing}\n")
        return 2
    started = time.monotonic()
    out.write(
        f"abortkit demo: {len(registry.PROVIDERS)} providers x sync/async x {len(trials.PHASES)} phases, "
        f"{trials_per_cell} trials each after {trials.WARMUP} warm-up rounds, on the embedded mock LLM server\n"
        "(the procedure of python -m benchmarks --only phases)\n"
    )
    with MockLLMServer() as server:
        out.write(f"server on {server.base_url}\n\nproviders:\n")
        cells, skipped = _run_providers(server, trials_per_cell, out)
        out.write("\nbaselines (same server, same run; a 1 s thinking gap, abort 20 ms into it):\n")
        baselines = _run_baselines(server, out)
    _table(cells, baselines, out)
    failed = [t for cell in cells for t in cell.failures]
    elapsed = time.monotonic() - started
    if failed:
        out.write(f"\nFAILED: {len(failed)} abort(s) did not unwind correctly:\n")
        for trial in failed[:10]:
            warm = "" if trial.recorded else " (warm-up)"
            out.write(f"  {trial.provider} {trial.mode} {trial.phase}{warm}: {trial.error}\n")
        return 1
    recorded = sum(1 for cell in cells for t in cell.trials if t.recorded)
    warmup = sum(len(cell.trials) for cell in cells) - recorded
    slow = [
        (cell.provider, cell.mode, phase.name)
        for cell in cells
        for phase in trials.PHASES
        if summary(cell.unwinds(phase.name))["max"] * 1000 > TARGET_P99_MS
    ]
    note = f" ({len(slow)} cell(s) had a trial over {TARGET_P99_MS:g} ms: the machine may be loaded)" if slow else ""
    out.write(f"\nall {recorded} aborts unwound (and {warmup} warm-up ones){note}; {elapsed:.1f} s\n")
    not_yet = sorted({cell.provider for cell in cells if trials.phases_for(cell.provider) != trials.PHASES})
    if not_yet:
        out.write(f"not run (a known limit, see the README): the headers wait and a gap for {', '.join(not_yet)}\n")
    for line in skipped:
        out.write(f"{line}\n")
    return 0
