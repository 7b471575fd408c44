"""One abort trial against a provider: script the server, trip at a phase, time the unwind.

Shared by ``abortkit demo`` and the benchmarks, so that the figures both print come
from the same procedure. A trial trips the signal from another real thread at a
chosen phase of the call and measures, with ``time.perf_counter``, the time from the
``abort()`` call until the caller has caught ``AbortError``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from abortkit import AbortController, AbortError

__all__ = ["PHASES", "Trial", "percentile", "run_trial", "run_trial_async", "summarize"]

PHASES = ("already aborted", "waiting for headers", "thinking gap", "mid-burst")
HANG = 5.0  # a trial that has not unwound after this long has failed


@dataclass
class Trial:
    provider: str
    mode: str
    phase: str
    unwind: float | None = None  # seconds from abort() to AbortError caught
    requests: int = 0  # requests that reached the server during the trial
    error: str | None = None  # why the trial failed, if it did

    @property
    def ok(self) -> bool:
        return self.error is None


def _script(phase: str) -> Any:
    from abortkit.testing import Gap, Script, Text

    if phase == "waiting for headers":
        return Script.headers_after(30)
    if phase == "thinking gap":
        return Script(steps=[Text("Hello"), Gap(30), Text(" world")])
    return Script(steps=[Text(f"{index} ") for index in range(20_000)])


class _Plan:
    """Arms the trip at the phase's moment and trips from a separate thread."""

    def __init__(self, server: Any, phase: str, controller: AbortController) -> None:
        self.server, self.phase, self.controller = server, phase, controller
        self.armed = threading.Event()
        self.tripped_at: float | None = None
        self.chunks = 0
        self._requests_before = server.request_count
        if phase == "already aborted":
            self.tripped_at = time.perf_counter()
            controller.abort("demo")
            return
        server.enqueue(_script(phase))
        threading.Thread(target=self._trip, daemon=True).start()

    def _trip(self) -> None:
        if self.phase == "waiting for headers":
            self.server.wait_for_requests(self._requests_before + 1, timeout=HANG)
            time.sleep(0.02)
            self.armed.set()
        if self.armed.wait(HANG):
            if self.phase == "thinking gap":
                time.sleep(0.02)
            self.tripped_at = time.perf_counter()
            self.controller.abort("demo")

    def on_text_chunk(self, text: str) -> None:
        self.chunks += 1
        if self.tripped_at is not None:
            raise AssertionError("on_text_chunk called after the abort")
        if (self.phase == "thinking gap" and self.chunks == 1) or (self.phase == "mid-burst" and self.chunks == 10):
            self.armed.set()

    def finish(self, trial: Trial, caught: BaseException | None) -> Trial:
        done = time.perf_counter()
        trial.requests = self.server.request_count - self._requests_before
        if caught is None:
            trial.error = "returned normally: the abort was lost"
        elif not isinstance(caught, AbortError):
            trial.error = f"raised {type(caught).__name__}: {caught}"
        elif self.tripped_at is None:
            trial.error = "AbortError before the trip"
        else:
            trial.unwind = done - self.tripped_at
        expected = 0 if self.phase == "already aborted" else 1
        if trial.error is None and trial.requests != expected:
            trial.error = f"{trial.requests} requests reached the server (expected {expected})"
        return trial


def run_trial(provider: Any, server: Any, phase: str, *, name: str) -> Trial:
    """A sync trial; the call runs on a worker thread so that a hang cannot stall the run."""
    plan = _Plan(server, phase, AbortController())
    outcome: list[BaseException | None] = []
    messages: Any = [{"role": "user", "content": "Tell me a story."}]

    def call() -> None:
        try:
            provider.chat_stream_response(
                messages, abort_signal=plan.controller.signal, on_text_chunk=plan.on_text_chunk
            )
            outcome.append(None)
        except BaseException as exc:  # recorded, judged in finish()
            outcome.append(exc)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(HANG)
    if worker.is_alive():
        plan.controller.abort("cleanup")
        return Trial(name, "sync", phase, error=f"did not unwind within {HANG:g} s")
    return plan.finish(Trial(name, "sync", phase), outcome[0])


async def run_trial_async(provider: Any, server: Any, phase: str, *, name: str) -> Trial:
    """An async trial, on the running loop, tripped from another thread."""
    plan = _Plan(server, phase, AbortController())
    messages: Any = [{"role": "user", "content": "Tell me a story."}]
    caught: BaseException | None = None
    try:
        await asyncio.wait_for(
            provider.achat_stream_response(
                messages, abort_signal=plan.controller.signal, on_text_chunk=plan.on_text_chunk
            ),
            HANG,
        )
    except asyncio.TimeoutError:
        return Trial(name, "async", phase, error=f"did not unwind within {HANG:g} s")
    except Exception as exc:
        caught = exc
    return plan.finish(Trial(name, "async", phase), caught)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: small samples stay honest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(trials: list[Trial]) -> tuple[float | None, float | None]:
    """(median, max) unwind in seconds over the successful trials."""
    unwinds = [t.unwind for t in trials if t.unwind is not None]
    if not unwinds:
        return None, None
    return percentile(unwinds, 0.5), max(unwinds)

