"""Dispatch of one abort: WHATWG's dependent-signal order, first reason wins, linear fan-out.

WHATWG's "signal abort" marks every dependent of the source aborted, with the source's
reason, before any listener runs; then it runs the source's listeners, then each
dependent's, in creation order. abortkit's child controllers (``parent=``) are
dependents in the same way, at any depth.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import pytest

from abortkit import AbortController, AbortSignal


def test_a_source_listener_sees_its_dependents_already_aborted() -> None:
    source = AbortController()
    seen: list[tuple[bool, object, bool, object]] = []
    source.signal.add_listener(
        lambda: seen.append((combined.aborted, combined.reason, child.signal.aborted, child.signal.reason))
    )
    combined = AbortSignal.any([source.signal])
    child = AbortController(parent=source.signal)
    source.abort("esc")
    assert seen == [(True, "esc", True, "esc")]


def test_source_listeners_run_first_then_each_dependent_in_creation_order() -> None:
    source = AbortController()
    calls: list[str] = []
    first = AbortSignal.any([source.signal])
    child = AbortController(parent=source.signal)
    grandchild = AbortSignal.any([child.signal])
    second = AbortSignal.any([source.signal])
    # Registered in the reverse order: the order of the run must not depend on it.
    second.add_listener(lambda: calls.append("second"))
    grandchild.add_listener(lambda: calls.append("grandchild"))
    child.signal.add_listener(lambda: calls.append("child"))
    first.add_listener(lambda: calls.append("first"))
    source.signal.add_listener(lambda: calls.append("source 1"))
    source.signal.add_listener(lambda: calls.append("source 2"))
    source.abort()
    assert calls == ["source 1", "source 2", "first", "child", "grandchild", "second"]


def test_the_first_reason_wins_through_any_when_a_listener_aborts_a_second_source() -> None:
    esc, deadline = AbortController(), AbortController()
    esc.signal.add_listener(lambda: deadline.abort("deadline"))  # before the any(): runs first
    combined = AbortSignal.any([esc.signal, deadline.signal])
    reasons: list[object] = []
    combined.add_listener(lambda: reasons.append(combined.reason))
    esc.abort("esc")
    assert combined.reason == "esc"
    assert reasons == ["esc"]


def test_the_first_reason_wins_through_a_child_when_a_listener_aborts_the_child() -> None:
    parent = AbortController()
    child = AbortController(parent=parent.signal)
    parent.signal.add_listener(lambda: child.abort("child's own"))
    parent.abort("parent's")
    assert child.signal.reason == "parent's"


def test_a_listener_of_a_dependent_runs_exactly_once_when_both_sources_abort() -> None:
    a, b = AbortController(), AbortController()
    combined = AbortSignal.any([a.signal, b.signal])
    calls: list[object] = []
    combined.add_listener(lambda: calls.append(combined.reason))
    a.signal.add_listener(lambda: b.abort("b"))
    a.abort("a")
    b.abort("again")
    assert calls == ["a"]


def _chain(depth: int) -> tuple[AbortController, list[AbortController]]:
    root = AbortController()
    chain = [root]
    for _ in range(depth):
        chain.append(AbortController(parent=chain[-1].signal))
    return root, chain


@pytest.mark.parametrize("depth", [10, 1_000, 3 * sys.getrecursionlimit()])
def test_a_deep_chain_of_children_aborts_every_leaf_without_recursion(depth: int) -> None:
    root, chain = _chain(depth)
    ran = [0] * len(chain)

    def listener(index: int) -> Callable[[], None]:
        def run() -> None:
            ran[index] += 1

        return run

    for index, controller in enumerate(chain):
        controller.signal.add_listener(listener(index))
    started = time.monotonic()
    assert root.abort("quit") is True
    assert time.monotonic() - started < 10.0  # hang catch (it used to spin forever)
    assert all(controller.signal.aborted for controller in chain)
    assert {controller.signal.reason for controller in chain} == {"quit"}
    assert ran == [1] * len(chain)


def test_a_deep_chain_of_children_created_from_an_aborted_root_is_aborted_at_once() -> None:
    root, chain = _chain(1_000)
    root.abort("early")
    late = AbortController(parent=chain[-1].signal)
    assert late.signal.aborted and late.signal.reason == "early"


def _fan_out_seconds(listeners: int) -> float:
    """Best of three: the time ``abort()`` takes to run ``listeners`` no-op listeners."""
    best = float("inf")
    for _ in range(3):
        controller = AbortController()
        for _ in range(listeners):
            controller.signal.add_listener(int)
        started = time.perf_counter()
        controller.abort()
        best = min(best, time.perf_counter() - started)
        assert controller.signal.listener_count == 0
    return best


def test_fan_out_grows_linearly_with_the_number_of_listeners() -> None:
    # A complexity check, not a timing target (the figures are in the benchmarks): ten times
    # the listeners must cost about ten times as much. A quadratic drain costs ~100 times.
    small, large = _fan_out_seconds(10_000), _fan_out_seconds(100_000)
    assert large / small < 40, f"10,000 listeners: {small * 1e3:.1f} ms, 100,000: {large * 1e3:.1f} ms"
