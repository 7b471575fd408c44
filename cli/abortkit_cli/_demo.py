"""``abortkit demo``: every provider, sync and async, aborted in every phase, on the embedded server.

Prints, as it goes, one line per provider/mode/phase with the unwind latency, then a
table beside two baselines measured in the same run on the same server: the seed's
close-only pattern (waits for the next chunk) and a worker thread polled every
100 ms. Exits 1 with a message naming the failures if any abort did not unwind.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

from abortkit_providers import registry

from .trials import PHASES, Trial, run_trial, run_trial_async, summarize

__all__ = ["run_demo"]

# Providers an abort stops in every phase, sync and async (Bedrock cannot wake a blocked read yet).
DEMO_SPECS = tuple(spec for spec in registry.SPECS if spec.has_async and spec.wakes_blocked_reads)
PROVIDER_NAMES = tuple(spec.name for spec in DEMO_SPECS)
TARGET_P99_MS = 5.0


def _providers(server: Any, asynchronous: bool) -> dict[str, Any]:
    return {
        spec.name: spec.create(
            base_url=spec.base_url_of(server), api_key="demo-key", model="demo-model", asynchronous=asynchronous
        )
        for spec in DEMO_SPECS
    }


def _progress(out: TextIO, trial_group: list[Trial]) -> None:
    first = trial_group[0]
    median, worst = summarize(trial_group)
    failures = [t.error for t in trial_group if t.error]
    if failures or median is None or worst is None:
        shown = "FAILED: " + (failures[0] if failures else "no trial unwound")
    else:
        shown = f"p50 {median * 1000:6.2f} ms  max {worst * 1000:6.2f} ms"
    out.write(f"  {first.provider:<18} {first.mode:<5} {first.phase:<20} {shown}\n")
    out.flush()


def _run_providers(server: Any, trials_per_cell: int, out: TextIO) -> list[list[Trial]]:
    groups: list[list[Trial]] = []
    sync_providers = _providers(server, asynchronous=False)
    for name in PROVIDER_NAMES:
        for phase in PHASES:
            group = [run_trial(sync_providers[name], server, phase, name=name) for _ in range(trials_per_cell)]
            _progress(out, group)
            groups.append(group)

    async def run_async() -> None:
        async_providers = _providers(server, asynchronous=True)
        for name in PROVIDER_NAMES:
            for phase in PHASES:
                group = [
                    await run_trial_async(async_providers[name], server, phase, name=name)
                    for _ in range(trials_per_cell)
                ]
                _progress(out, group)
                groups.append(group)

    asyncio.run(run_async())
    return groups


def _run_baselines(server: Any, out: TextIO) -> list[tuple[str, list[float]]]:
    """The seed's close-only pattern, a 100 ms polling worker and the bare shutdown floor:
    same server, same run, the openai SDK (sync), a 1 s thinking gap aborted 20 ms in."""
    import openai

    from abortkit.testing import Script

    from . import baselines as _baselines

    client = openai.OpenAI(base_url=server.openai_base_url, api_key="demo-key", max_retries=0)
    messages: Any = [{"role": "user", "content": "Tell me a story."}]

    def make_stream() -> Any:
        server.enqueue(Script.thinking_gap(first="Hello", gap=1.0, then=" world"))
        return client.chat.completions.create(model="demo-model", messages=messages, stream=True)

    rows: list[tuple[str, list[float]]] = []
    for label, strategy, trials in (
        ("seed close-only (openai sync)", _baselines.close_only, 3),
        ("100 ms polling worker (openai sync)", _baselines.polling_worker, 5),
        ("bare shutdown floor (openai sync)", _baselines.bare_shutdown, 10),
    ):
        unwinds = [_baselines.measure_unwind(strategy, make_stream, abort_after=0.02) for _ in range(trials)]
        median = sorted(unwinds)[len(unwinds) // 2]
        out.write(f"  {label:<45} p50 {median * 1000:8.2f} ms  max {max(unwinds) * 1000:8.2f} ms\n")
        out.flush()
        rows.append((label, unwinds))
    client.close()
    return rows


def _table(groups: list[list[Trial]], baselines: list[tuple[str, list[float]]], out: TextIO) -> None:
    out.write("\nUnwind latency after an abort (time from abort() to AbortError caught)\n\n")
    out.write(f"| {'provider':<18} | {'mode':<5} | {'phase':<20} | {'p50 ms':>8} | {'max ms':>8} | result |\n")
    out.write(f"|{'-' * 20}|{'-' * 7}|{'-' * 22}|{'-' * 10}|{'-' * 10}|--------|\n")
    for group in groups:
        first = group[0]
        median, worst = summarize(group)
        ok = all(t.ok for t in group)
        cells = (
            (f"{median * 1000:8.2f}", f"{worst * 1000:8.2f}")
            if median is not None and worst is not None
            else ("       -", "       -")
        )
        verdict = "ok" if ok else "FAILED"
        out.write(
            f"| {first.provider:<18} | {first.mode:<5} | {first.phase:<20} | {cells[0]} | {cells[1]} | {verdict:<6} |\n"
        )
    for label, unwinds in baselines:
        median = sorted(unwinds)[len(unwinds) // 2]
        out.write(f"| {label:<51} | {median * 1000:8.2f} | {max(unwinds) * 1000:8.2f} | base   |\n")


def run_demo(*, trials: int = 5, out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the process exit status."""
    try:
        from abortkit.testing import MockLLMServer
    except ImportError as missing:  # a missing extra, named in the message
        out.write(f"abortkit demo: {missing}\n")
        return 2
    started = time.monotonic()
    out.write(f"abortkit demo: {len(PROVIDER_NAMES)} providers x sync/async x {len(PHASES)} phases, "
              f"{trials} trials each, on the embedded mock LLM server\n")
    with MockLLMServer() as server:
        out.write(f"server on {server.base_url}\n\nproviders:\n")
        groups = _run_providers(server, trials, out)
        out.write("\nbaselines (same server, same run; a 1 s thinking gap, abort 20 ms into it):\n")
        baselines = _run_baselines(server, out)
    _table(groups, baselines, out)
    failed = [t for group in groups for t in group if not t.ok]
    elapsed = time.monotonic() - started
    if failed:
        out.write(f"\nFAILED: {len(failed)} abort(s) did not unwind correctly:\n")
        for trial in failed[:10]:
            out.write(f"  {trial.provider} {trial.mode} {trial.phase}: {trial.error}\n")
        return 1
    slow = [g[0] for g in groups if (summarize(g)[1] or 0) * 1000 > TARGET_P99_MS]
    note = f" ({len(slow)} cell(s) had a trial over {TARGET_P99_MS:g} ms: the machine may be loaded)" if slow else ""
    out.write(f"\nall {sum(len(g) for g in groups)} aborts unwound{note}; {elapsed:.1f} s\n")
    return 0
