"""One procedure to abort a provider at a phase of its call: ``abortkit demo`` and the benchmarks run it.

Both print p50s of the same cells (provider x sync/async x phase); with one procedure they
measure the same thing, so that their figures can be compared (``abortkit demo --trials
40`` runs exactly the plan of ``python -m benchmarks --only phases``: same seed, same
shuffled order, same abort moments).

A trial, on the mock server (plain HTTP), with a provider as shipped (its SDK's own client,
default retries):

* already aborted: the signal trips before the call; no request may be sent;
* waiting for headers: the server withholds its status line for 10 s; abort 50 ms after it
  has received the request (after the call's start, a loaded machine could still be
  connecting: that would be another phase);
* between chunks: one chunk, then a 1 s silence; abort 20-50 ms into it (uniformly at
  random, so that nothing phase-locks with the server);
* mid-burst: 5,000 chunks back to back; abort as soon as the 5th is handed over.

Every provider of ``abortkit_providers.registry``, sync and (where it has one) async; the two
phases that need an abort to wake a blocked read are left out for a provider whose SDK's
reads cannot be woken yet (Bedrock's urllib3), rather than timing the block.

Another real thread calls ``abort()`` (``baselines.measure_unwind``); the figure is the
time from that call to the caller holding ``AbortError``. A trial also fails if the call
did not end with ``AbortError``, if a request count other than the one expected (0 or 1:
no retry) reached the server, or if text kept arriving after the abort (one chunk may race
the abort: its check came before the trip; a second may not). Phases run in shuffled
rounds, after warm-up rounds that are checked but not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from abortkit_providers import Provider, registry

from abortkit import AbortSignal
from abortkit.testing import Script

from .baselines import OnItem, UnwindNotMeasured, measure_unwind, measure_unwind_async
from .stats import summary

__all__ = [
    "MODES",
    "NOT_YET",
    "PHASES",
    "SEED",
    "WARMUP",
    "Cell",
    "Phase",
    "Trial",
    "cells",
    "describe",
    "make_provider",
    "phases_for",
    "plan",
    "run_cell",
]

MESSAGES: Any = [{"role": "user", "content": "Tell me a story."}]
NOT_YET = "not run: an abort cannot wake this SDK's blocked reads yet (a known limit)"
MODEL = "mock-model"
MODES = ("sync", "async")
SEED = 20240612
"""The plan's random seed: abort moments and the order of phases in each round."""
WARMUP = 2
"""Rounds run first and checked, but not recorded (cold connections, first imports)."""
HANG = 10.0
"""A trial that has not unwound after this long has failed (the longest script lasts 10 s)."""
TRIGGER_TIMEOUT = 5.0
"""No trigger (item or request) by then: the abort is sent anyway and the trial measures nothing."""
REQUEST_SETTLE = 2.0
"""How long the server may take to record a request the client sent (see ``_requests_since``)."""
ABORT_WINDOW = (0.020, 0.050)
HEADERS_ABORT_AFTER = 0.050
BURST_CHUNKS = 5000
BURST_ABORT_AFTER_ITEMS = 5


@dataclass(frozen=True)
class Phase:
    """A moment of the call: what the server answers, and when after which item to abort."""

    name: str
    script: Script | None  # None: the signal is aborted before the call, no request may be sent
    abort_after: Callable[[random.Random], float | None]
    after_items: int  # the abort's delay counts from this item handed over (0: the call's start)
    after_request: bool = False  # ... and from the server having received the request
    wakes_a_blocked_read: bool = False  # the abort must wake a read the SDK is blocked in

    @property
    def expected_requests(self) -> int:
        return 0 if self.script is None else 1


PHASES = (
    Phase("already aborted", None, lambda rng: None, 1),
    Phase(
        "waiting for headers", Script.headers_after(10.0), lambda rng: HEADERS_ABORT_AFTER, 0, after_request=True,
        wakes_a_blocked_read=True,
    ),
    Phase(
        "between chunks", Script.thinking_gap(gap=1.0), lambda rng: rng.uniform(*ABORT_WINDOW), 1,
        wakes_a_blocked_read=True,
    ),
    Phase("mid-burst", Script.burst(BURST_CHUNKS), lambda rng: 0.0, BURST_ABORT_AFTER_ITEMS),
)


@dataclass
class Trial:
    """One abort: its unwind time, and why it failed if it did."""

    provider: str
    mode: str
    phase: str
    recorded: bool  # False for a warm-up trial
    unwind: float | None = None  # seconds from abort() to AbortError caught
    requests: int = 0  # requests that reached the server during the trial
    error: str | None = None  # why the trial failed, if it did

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Cell:
    """Every trial of one provider in one mode, warm-up included, in the order they ran."""

    provider: str
    mode: str
    trials: list[Trial] = field(default_factory=list)

    def recorded(self, phase: str) -> list[Trial]:
        return [t for t in self.trials if t.recorded and t.phase == phase]

    def unwinds(self, phase: str) -> list[float]:
        """The recorded unwind times of ``phase``, in seconds (what p50 and p99 summarise)."""
        return [t.unwind for t in self.recorded(phase) if t.unwind is not None]

    @property
    def failures(self) -> list[Trial]:
        return [t for t in self.trials if not t.ok]


def cells() -> list[tuple[str, str]]:
    """(provider, mode) in the order both the demo and the benchmark run them (async where it has one)."""
    return [(spec.name, mode) for spec in registry.SPECS for mode in MODES if mode == "sync" or spec.has_async]


def phases_for(name: str) -> tuple[Phase, ...]:
    """The phases provider ``name`` is tried in: all, unless an abort cannot wake its SDK's
    blocked reads yet (``ProviderSpec.wakes_blocked_reads``): those trials would time the block."""
    if registry.get(name).wakes_blocked_reads:
        return PHASES
    return tuple(phase for phase in PHASES if not phase.wakes_a_blocked_read)


def plan(
    rounds: int, warmup: int, rng: random.Random, phases: tuple[Phase, ...] = PHASES
) -> list[tuple[Phase, bool]]:
    """(phase, recorded) for ``warmup`` then ``rounds`` rounds, each a shuffled order of ``phases``."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, not {rounds!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, not {warmup!r}")
    steps = []
    for r in range(warmup + rounds):
        order = list(phases)
        rng.shuffle(order)
        steps += [(phase, r >= warmup) for phase in order]
    return steps


def make_provider(name: str, server: Any, *, asynchronous: bool) -> Provider:
    """The provider ``name`` as shipped (its SDK's own client, default retries) on the mock server."""
    spec = registry.get(name)
    api_key = "AKIDTRIAL:trial-secret" if name == "bedrock" else "abortkit-trial"  # boto3 signs with "ID:SECRET"
    return spec.create(base_url=spec.base_url_of(server), api_key=api_key, model=MODEL, asynchronous=asynchronous)


@contextmanager
def _answering(server: Any, script: Script) -> Iterator[None]:
    """Answer every request with ``script`` while inside: through ``default_script`` rather than
    ``enqueue``, since a trial aborted before its request would leave a queued script behind."""
    previous = server.default_script
    server.default_script = script
    try:
        yield
    finally:
        server.default_script = previous


class _Call:
    """The measured call, as a strategy for ``measure_unwind``: it notes text handed over after the abort."""

    def __init__(self) -> None:
        self.late = 0

    def _on_text(self, signal: AbortSignal, on_item: OnItem | None) -> Callable[[str], None]:
        def on_text(text: str) -> None:
            if signal.aborted:
                self.late += 1
            if on_item is not None:
                on_item(text)

        return on_text

    def sync(self, provider: Provider, signal: AbortSignal, on_item: OnItem | None) -> object:
        return provider.chat_stream_response(MESSAGES, abort_signal=signal, on_text_chunk=self._on_text(signal, on_item))

    async def asynchronous(self, provider: Provider, signal: AbortSignal, on_item: OnItem | None) -> object:
        return await provider.achat_stream_response(
            MESSAGES, abort_signal=signal, on_text_chunk=self._on_text(signal, on_item)
        )


def _armed_by(server: Any, before: int, phase: Phase) -> Callable[[float], bool] | None:
    """For a phase timed from the request's arrival: "the server has it" (see ``measure_unwind``)."""
    if not phase.after_request:
        return None
    return lambda wait: bool(server.wait_for_requests(before + 1, timeout=wait))


def _requests_since(server: Any, before: int, phase: Phase) -> int:
    """Requests the server received since ``before``, once it has parsed the one expected.

    The server records a request when its thread has parsed the head, which on a loaded
    machine can come after the client has already given up on it: read too early, the
    count would blame the next trial for this one's request.
    """
    server.wait_for_requests(before + phase.expected_requests, timeout=REQUEST_SETTLE)
    return int(server.request_count) - before


def _judge(trial: Trial, call: _Call, phase: Phase, requests: int) -> Trial:
    trial.requests = requests
    problems = [trial.error] if trial.error else []
    if requests != phase.expected_requests:
        problems.append(f"{requests} requests reached the server (expected {phase.expected_requests})")
    if call.late > 1:
        problems.append(f"{call.late} text chunks were handed over after the abort")
    trial.error = "; ".join(problems) or None
    return trial


def _failure(error: BaseException) -> str:
    if isinstance(error, UnwindNotMeasured):
        return f"the abort was lost: {error}"
    return f"raised {type(error).__name__} instead of AbortError: {error}"[:300]


def _sync_trial(provider: Provider, server: Any, phase: Phase, name: str, recorded: bool, rng: random.Random) -> Trial:
    """Run on a worker thread, so that a call that never unwinds cannot stall the run."""
    trial, call = Trial(name, "sync", phase.name, recorded), _Call()
    abort_after = phase.abort_after(rng)
    before = server.request_count
    outcome: list[float | BaseException] = []

    def measure() -> None:
        try:
            outcome.append(
                measure_unwind(
                    call.sync, lambda: provider, abort_after=abort_after, after_items=phase.after_items,
                    timeout=TRIGGER_TIMEOUT, armed_by=_armed_by(server, before, phase),
                )
            )
        except Exception as error:
            outcome.append(error)

    with _answering(server, phase.script or Script.simple()):
        worker = threading.Thread(target=measure, name="abortkit-trial", daemon=True)
        worker.start()
        worker.join(HANG)
    if not outcome:
        trial.error = f"did not unwind within {HANG:g} s"
    elif isinstance(outcome[0], BaseException):
        trial.error = _failure(outcome[0])
    else:
        trial.unwind = outcome[0]
    return _judge(trial, call, phase, _requests_since(server, before, phase))


async def _async_trial(
    provider: Provider, server: Any, phase: Phase, name: str, recorded: bool, rng: random.Random
) -> Trial:
    trial, call = Trial(name, "async", phase.name, recorded), _Call()
    abort_after = phase.abort_after(rng)
    before = server.request_count

    async def the_provider() -> Provider:
        return provider

    with _answering(server, phase.script or Script.simple()):
        try:
            trial.unwind = await asyncio.wait_for(
                measure_unwind_async(
                    call.asynchronous, the_provider, abort_after=abort_after, after_items=phase.after_items,
                    timeout=TRIGGER_TIMEOUT, armed_by=_armed_by(server, before, phase),
                ),
                HANG,
            )
        except asyncio.TimeoutError:
            trial.error = f"did not unwind within {HANG:g} s"
        except Exception as error:
            trial.error = _failure(error)
    return _judge(trial, call, phase, _requests_since(server, before, phase))


def _close(client: Any) -> None:
    """Close an SDK client, whichever SDK: the cell's connections should not outlive it. Best
    effort: the SDKs name it close() or have none, and a failure here says nothing of the aborts."""
    with contextlib.suppress(Exception):
        client.close()


async def _aclose(client: Any) -> None:
    with contextlib.suppress(Exception):
        closing = getattr(client, "aclose", None) or client.close
        result = closing()
        if inspect.isawaitable(result):
            await result


def run_cell(name: str, mode: str, server: Any, *, rounds: int, warmup: int, rng: random.Random) -> Cell:
    """Every phase of provider ``name`` in ``mode`` ("sync" or "async"), ``warmup`` + ``rounds`` times."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    steps = plan(rounds, warmup, rng, phases_for(name))
    cell = Cell(name, mode)
    if mode == "sync":
        provider = make_provider(name, server, asynchronous=False)
        try:
            for phase, recorded in steps:
                cell.trials.append(_sync_trial(provider, server, phase, name, recorded, rng))
        finally:
            _close(provider.sdk_client())
        return cell

    async def run() -> None:
        provider = make_provider(name, server, asynchronous=True)
        try:
            for phase, recorded in steps:
                cell.trials.append(await _async_trial(provider, server, phase, name, recorded, rng))
        finally:
            await _aclose(provider.sdk_client(asynchronous=True))

    asyncio.run(run())
    return cell


def describe(cell: Cell) -> list[str]:
    """One line per phase: n, p50, p99 and max of the recorded unwinds, or the first failure.

    What the demo prints as it goes and the benchmark logs: the same figures, the same way.
    """
    lines = []
    supported = phases_for(cell.provider)
    for phase in PHASES:
        if phase not in supported:
            lines.append(f"{cell.provider:<18} {cell.mode:<5} {phase.name:<20} {NOT_YET}")
            continue
        failures = [t.error for t in cell.trials if t.phase == phase.name and t.error]
        s = summary(cell.unwinds(phase.name))
        if failures:
            shown = f"FAILED ({len(failures)}): {failures[0]}"
        elif not s["n"]:
            shown = "no trial recorded"
        else:
            shown = (f"n {s['n']:<3} p50 {s['p50'] * 1e3:6.2f} ms  p99 {s['p99'] * 1e3:6.2f} ms  "
                     f"max {s['max'] * 1e3:6.2f} ms")
        lines.append(f"{cell.provider:<18} {cell.mode:<5} {phase.name:<20} {shown}")
    return lines
