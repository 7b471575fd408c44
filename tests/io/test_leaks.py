"""Leaks over a long REPL session: nothing may pile up on the session's signal, the timer,
the thread list, the descriptor table or the heap, turn after turn.

The pattern is the agent CLI's: one controller for the whole session, and per turn a
child ``AbortController(parent=session.signal)``, an ``AbortSignal.any`` of that child and
an ``AbortSignal.timeout``, an ``IdleWatchdog`` on every other turn, ``close_on_abort``
on the turn's response and ``abortable_iter`` over it. Some turns are aborted mid-stream,
some after the stream ended, some by a timeout that fires at once, some not at all.

In memory (``test_repl_turns_leave_nothing_behind``): 10,000 turns by default, 100,000
with ``-m stress``; tracemalloc measures the heap after a warm-up. With real sockets
(``test_repl_turns_with_the_openai_sdk_leave_nothing_behind``): 300 turns of the openai
SDK against the loopback mock server, half aborted in the middle of a thinking gap.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from abortkit import AbortController, AbortError, AbortSignal, IdleWatchdog, abortable_iter, close_on_abort
from abortkit._timer import pending_timers
from abortkit.testing import MockLLMServer, Script
from tests._helpers.sdk_http import sdk_http

MEMORY_BOUND = 256 * 1024  # bytes of traced heap growth allowed over the measured turns
WARM_UP_TURNS = 2_000
ITEMS = 6  # items per in-memory "stream"
ABORT_AT = 2  # the item after which a turn aborted mid-stream trips


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_idents() -> set[int | None]:
    return {thread.ident for thread in threading.enumerate()}


class Response:
    """An in-memory streaming response: iterable, closable, and it records both."""

    __slots__ = ("closed", "delivered")

    def __init__(self) -> None:
        self.closed = False
        self.delivered = 0

    def __iter__(self) -> Iterator[int]:
        for item in range(ITEMS):
            if self.closed:  # a closed response yields nothing more, like a closed socket
                raise ConnectionError("response closed")
            self.delivered += 1
            yield item

    def close(self) -> None:
        self.closed = True


@dataclass
class Outcomes:
    completed: int = 0
    aborted: int = 0
    timed_out: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


def one_turn(session: AbortSignal, index: int, outcomes: Outcomes) -> None:
    kind = ("abort_mid_stream", "abort_after_end", "no_abort", "no_abort")[index % 4]
    if index % 16 == 5:
        kind = "timeout_now"
    outcomes.kinds[kind] = outcomes.kinds.get(kind, 0) + 1
    turn = AbortController(parent=session)
    deadline = AbortSignal.timeout(0.0 if kind == "timeout_now" else 3600.0)
    signal = AbortSignal.any([turn.signal, deadline])
    response = Response()
    received: list[int] = []
    try:
        if index % 2:
            with IdleWatchdog(3600.0, parent=signal) as dog, close_on_abort(dog.signal, response) as stream:
                for item in abortable_iter(stream, dog.signal):
                    received.append(item)
                    if kind == "abort_mid_stream" and item == ABORT_AT:
                        turn.abort("esc")
        else:
            with close_on_abort(signal, response) as stream:
                for item in abortable_iter(stream, signal):
                    received.append(item)
                    if kind == "abort_mid_stream" and item == ABORT_AT:
                        turn.abort("esc")
    except AbortError as error:
        if kind == "timeout_now":
            assert isinstance(error.reason, TimeoutError), error.reason
            outcomes.timed_out += 1
        else:
            assert kind == "abort_mid_stream", f"turn {index} ({kind}) raised {error!r}"
            assert error.reason == "esc"
            assert received == list(range(ABORT_AT + 1)), f"turn {index}: items after the abort: {received}"
            assert response.closed, f"turn {index}: the abort did not close the response"
            outcomes.aborted += 1
    else:
        assert kind != "abort_mid_stream", f"turn {index}: the abort was lost"
        if kind != "timeout_now":
            assert received == list(range(ITEMS)), f"turn {index} ({kind}) got {received}"
            assert not response.closed
        outcomes.completed += 1
        if kind == "abort_after_end":
            assert turn.abort("esc late")
            assert signal.aborted  # the any() signal still follows the turn...
            assert not response.closed  # ...but a late ESC does not touch a finished response


def run_turns(session: AbortSignal, start: int, count: int, outcomes: Outcomes) -> None:
    for index in range(start, start + count):
        one_turn(session, index, outcomes)


def settle(baseline_timers: int, timeout: float = 5.0) -> None:
    """Collect garbage and wait for timeouts that fire at once to have fired."""
    deadline = time.monotonic() + timeout
    while True:
        gc.collect()
        if pending_timers() <= baseline_timers or time.monotonic() > deadline:
            return
        time.sleep(0.01)


def repl_session(turns: int) -> dict[str, Any]:
    session = AbortController()
    outcomes = Outcomes()
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        run_turns(session.signal, 0, WARM_UP_TURNS, outcomes)  # timer thread, caches, free lists
        settle(0)
        threads, fds, timers = thread_idents(), open_fds(), pending_timers()
        memory_before = tracemalloc.get_traced_memory()[0]
        started = time.perf_counter()
        run_turns(session.signal, WARM_UP_TURNS, turns, outcomes)
        elapsed = time.perf_counter() - started
        settle(timers)
        memory_after = tracemalloc.get_traced_memory()[0]
        figures = {
            "turns": turns,
            "seconds": elapsed,
            "memory_before": memory_before,
            "memory_after": memory_after,
            "growth": memory_after - memory_before,
            "outcomes": outcomes,
        }
        print(f"\nREPL session: {figures}")
        assert not session.signal.aborted
        assert session.signal.listener_count == 0, f"{session.signal.listener_count} listeners left on the session"
        assert pending_timers() == timers, f"timers: {timers} -> {pending_timers()}"
        assert thread_idents() == threads, "threads started or stopped"
        assert open_fds() == fds, f"descriptors: {fds} -> {open_fds()}"
        assert memory_after - memory_before < MEMORY_BOUND, (
            f"traced memory grew {memory_after - memory_before} bytes over {turns} turns"
        )
        assert outcomes.aborted == outcomes.kinds["abort_mid_stream"]
        assert outcomes.completed + outcomes.aborted + outcomes.timed_out == WARM_UP_TURNS + turns
        return figures
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_repl_turns_leave_nothing_behind() -> None:
    repl_session(10_000)


@pytest.mark.stress
@pytest.mark.timeout(600)
def test_repl_turns_leave_nothing_behind_stress() -> None:
    repl_session(100_000)


def test_a_leak_would_be_seen() -> None:
    """The checks above can fail: a turn that keeps its child controller alive leaves a
    listener on the session and grows the heap."""
    session = AbortController()
    kept: list[AbortController] = []
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2_000):
            kept.append(AbortController(parent=session.signal))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert session.signal.listener_count == 2_000
    assert grown > 2_000 * 100
    del kept
    gc.collect()
    assert session.signal.listener_count == 0


# -- real sockets: the openai SDK against the loopback mock server ---------------------------

SOCKET_TURNS = 300
GAP = 2.0
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass
class SocketSession:
    server: MockLLMServer
    client: Any
    session: AbortSignal
    aborted: int = 0
    completed: int = 0
    slowest_unwind: float = 0.0


def sdk_turn(state: SocketSession, index: int) -> None:
    abort = index % 2 == 0
    if abort:
        state.server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))
    turn = AbortController(parent=state.session)
    signal = AbortSignal.any([turn.signal, AbortSignal.timeout(60.0)])
    texts: list[str] = []
    tripped_at: list[float] = []

    def trip() -> None:
        tripped_at.append(time.perf_counter())
        turn.abort("esc")

    trigger = None
    try:
        stream = state.client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with close_on_abort(signal, stream):
            for chunk in abortable_iter(stream, signal):
                if chunk.choices and chunk.choices[0].delta.content:
                    texts.append(chunk.choices[0].delta.content)
                    if abort and trigger is None:
                        # Trip from the timer thread 5 ms into the gap: a real cross-thread abort.
                        trigger = AbortSignal.timeout(0.005)
                        trigger.add_listener(trip)
    except AbortError as error:
        unwind = time.perf_counter() - tripped_at[0]
        state.slowest_unwind = max(state.slowest_unwind, unwind)
        assert abort and error.reason == "esc", f"turn {index}: {error!r}"
        assert texts == ["Hello"], f"turn {index}: {texts}"
        assert unwind < GAP / 4, f"turn {index}: unwound {unwind * 1000:.0f} ms after the abort"
        state.aborted += 1
    else:
        assert not abort, f"turn {index}: the abort was lost"
        assert "".join(texts) == "Hello world"
        state.completed += 1


def test_repl_turns_with_the_openai_sdk_leave_nothing_behind() -> None:
    with MockLLMServer() as server:
        server.default_script = Script.simple("Hello world", chunks=2)
        AbortSignal.timeout(3600.0)  # the shared timer thread is started once, lazily: not a leak
        gc.collect()
        threads, fds, timers = thread_idents(), open_fds(), pending_timers()
        session = AbortController()
        client = openai.OpenAI(
            base_url=server.openai_base_url, api_key="sk-test", max_retries=0, http_client=sdk_http("openai").Client()
        )
        state = SocketSession(server, client, session.signal)
        started = time.perf_counter()
        for index in range(SOCKET_TURNS):
            sdk_turn(state, index)
        elapsed = time.perf_counter() - started
        assert server.request_count == SOCKET_TURNS  # nothing retried behind our back
        for request in server.requests:
            if not request.completed:
                assert server.wait_for_disconnect(request, 2.0) is not None, "an aborted connection stayed open"
        assert not server.errors
        client.close()
        gc.collect()
        print(
            f"\nSDK session: {SOCKET_TURNS} turns in {elapsed:.2f} s, {state.aborted} aborted, "
            f"{state.completed} completed, slowest unwind {state.slowest_unwind * 1000:.1f} ms"
        )
        assert state.aborted == state.completed == SOCKET_TURNS // 2
        assert session.signal.listener_count == 0
        assert wait_until(lambda: pending_timers() <= timers), f"timers: {timers} -> {pending_timers()}"
        assert wait_until(lambda: open_fds() <= fds), f"descriptors: {fds} -> {open_fds()}"
        assert wait_until(lambda: thread_idents() <= threads), f"threads left: {thread_idents() - threads}"


def test_close_on_abort_turns_are_freed_without_the_cycle_collector() -> None:
    session = AbortController()
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            turn = AbortController(parent=session.signal)
            with close_on_abort(turn.signal, Response()) as response:
                for _item in abortable_iter(response, turn.signal):
                    pass
            del turn, response
        left = session.signal.listener_count
    finally:
        gc.enable()
    assert left == 0, f"{left} finished turns still hold a listener on the session"
