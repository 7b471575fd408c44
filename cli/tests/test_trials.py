"""``abortkit_cli.trials``: the abort-at-a-phase procedure the demo and the benchmarks share."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from abortkit_cli import trials
from abortkit_providers import registry

from abortkit import AbortError, AbortSignal
from abortkit.testing import MockLLMServer


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv
        assert srv.errors == []


def test_the_plan_is_shuffled_rounds_after_warm_up_and_fixed_by_the_seed() -> None:
    steps = trials.plan(3, 2, random.Random(trials.SEED))
    assert len(steps) == 5 * len(trials.PHASES)
    assert [recorded for _, recorded in steps] == [False] * 8 + [True] * 12
    for r in range(5):
        assert sorted(p.name for p, _ in steps[r * 4 : r * 4 + 4]) == sorted(p.name for p in trials.PHASES)
    assert steps == trials.plan(3, 2, random.Random(trials.SEED))
    with pytest.raises(ValueError, match="rounds must be an int >= 1, not 0"):
        trials.plan(0, 1, random.Random())
    with pytest.raises(ValueError, match="warmup must be an int >= 0, not -1"):
        trials.plan(1, -1, random.Random())


def test_the_cells_are_every_registered_provider_sync_then_async_where_it_has_one() -> None:
    assert trials.cells() == [
        (spec.name, mode) for spec in registry.SPECS for mode in ("sync", "async") if mode == "sync" or spec.has_async
    ]


def test_the_phases_an_abort_cannot_wake_yet_are_left_out() -> None:
    for spec in registry.SPECS:
        phases = trials.phases_for(spec.name)
        if spec.wakes_blocked_reads:
            assert phases == trials.PHASES
        else:
            assert [p.name for p in phases] == ["already aborted", "mid-burst"]
    assert not registry.get("bedrock").wakes_blocked_reads  # the one known today (botocore's urllib3)


@pytest.mark.parametrize("mode", trials.MODES)
def test_a_cell_of_a_real_provider_passes_every_phase(server: MockLLMServer, mode: str) -> None:
    cell = trials.run_cell("anthropic", mode, server, rounds=2, warmup=1, rng=random.Random(5))
    assert len(cell.trials) == 3 * len(trials.PHASES)
    assert cell.failures == []
    for phase in trials.PHASES:
        recorded = cell.recorded(phase.name)
        assert len(recorded) == 2
        assert [t.requests for t in recorded] == [phase.expected_requests] * 2
        assert len(cell.unwinds(phase.name)) == 2
        assert all(0 < u < 1.0 for u in cell.unwinds(phase.name))  # 1 s: a hang, not a benchmark
    lines = trials.describe(cell)
    assert len(lines) == len(trials.PHASES)
    assert all(line.startswith(f"anthropic          {mode:<5} ") and " p50 " in line for line in lines)


def test_an_unknown_mode_is_refused(server: MockLLMServer) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        trials.run_cell("anthropic", "threads", server, rounds=1, warmup=0, rng=random.Random())


class Misbehaving:
    """A stand-in provider for the judge's own logic (what a real provider must never do)."""

    def __init__(self, behaviour: Callable[[AbortSignal, Callable[[str], None]], Any]) -> None:
        self.behaviour = behaviour

    def chat_stream_response(self, messages: Any, *, abort_signal: AbortSignal, on_text_chunk: Any) -> Any:
        return self.behaviour(abort_signal, on_text_chunk)


def _between_chunks() -> trials.Phase:
    (phase,) = [p for p in trials.PHASES if p.name == "between chunks"]
    return phase


def _judge(server: MockLLMServer, behaviour: Callable[[AbortSignal, Callable[[str], None]], Any]) -> trials.Trial:
    return trials._sync_trial(Misbehaving(behaviour), server, _between_chunks(), "fake", True, random.Random(1))  # type: ignore[arg-type]


def _wait_for_abort(signal: AbortSignal) -> None:
    deadline = time.monotonic() + 5
    while not signal.aborted and time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_lost_abort_fails_the_trial(server: MockLLMServer) -> None:
    def ignores_the_abort(signal: AbortSignal, on_text: Callable[[str], None]) -> str:
        on_text("Hello")
        _wait_for_abort(signal)
        return "Hello world"

    trial = _judge(server, ignores_the_abort)
    assert trial.unwind is None
    assert trial.error is not None and trial.error.startswith("the abort was lost"), trial.error


def test_text_after_the_abort_fails_the_trial(server: MockLLMServer) -> None:
    def keeps_talking(signal: AbortSignal, on_text: Callable[[str], None]) -> None:
        on_text("Hello")
        _wait_for_abort(signal)
        on_text(" world")  # one chunk may race the abort
        on_text("!")  # a second may not
        raise AbortError(signal.reason)

    trial = _judge(server, keeps_talking)
    assert trial.error is not None and "2 text chunks were handed over after the abort" in trial.error


def test_one_chunk_racing_the_abort_is_allowed(server: MockLLMServer) -> None:
    def one_in_flight(signal: AbortSignal, on_text: Callable[[str], None]) -> None:
        on_text("Hello")
        _wait_for_abort(signal)
        on_text(" world")
        raise AbortError(signal.reason)

    trial = _judge(server, one_in_flight)
    assert "text chunks" not in (trial.error or "")


def test_another_exception_or_a_missing_request_fails_the_trial(server: MockLLMServer) -> None:
    def breaks(signal: AbortSignal, on_text: Callable[[str], None]) -> None:
        on_text("Hello")
        _wait_for_abort(signal)
        raise ConnectionResetError("boom")

    trial = _judge(server, breaks)
    assert trial.error is not None
    assert "raised ConnectionResetError instead of AbortError: boom" in trial.error
    assert "0 requests reached the server (expected 1)" in trial.error  # the stand-in sent none
