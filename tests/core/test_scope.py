"""The scope (``abortkit/_scope.py``): the one owner of "which signals govern this context"; ``abort_scope``:
sequential reuse, no re-entry, and a signal already in scope not pushed twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from abortkit import AbortController, _scope, abort_scope, current_signals


@pytest.mark.found_by_mutation
def test_scope_can_be_used_again_after_exit_but_not_nested_in_itself() -> None:
    from abortkit import abort_scope, current_signals

    signal = AbortController().signal
    scope = abort_scope(signal)
    with scope:
        with pytest.raises(RuntimeError) as caught:
            scope.__enter__()
        assert str(caught.value) == "abort_scope is not re-entrant: create one per block"
    with scope:  # sequential reuse is fine
        assert current_signals()[-1] is signal
    assert signal not in current_signals()


@pytest.mark.found_by_mutation
def test_a_signal_already_in_scope_is_not_pushed_twice() -> None:
    from abortkit import AbortSignal, abort_scope, abortable, current_signals

    signal = AbortController().signal
    with abort_scope(signal), abort_scope(signal):
        assert current_signals().count(signal) == 1

    @abortable
    def gen(abort_signal: AbortSignal | None = None) -> Any:
        yield current_signals().count(signal)

    with abort_scope(signal):
        assert list(gen(abort_signal=signal)) == [1]


def test_push_and_pop_nest_and_a_signal_in_scope_is_not_pushed_again() -> None:
    outer, inner = AbortController().signal, AbortController().signal
    first = _scope.push(outer)
    second = _scope.push(inner)
    assert _scope.current() == (outer, inner) == current_signals()
    again = _scope.push(outer)  # already in scope: the context is left as it is
    assert again is _scope.UNCHANGED
    assert _scope.current() == (outer, inner)
    _scope.pop(again)
    assert _scope.current() == (outer, inner)
    _scope.pop(second)
    _scope.pop(first)
    assert _scope.current() == ()


def test_enter_and_restore_carry_over_what_the_code_in_between_left() -> None:
    signal, opened = AbortController().signal, AbortController().signal
    token = _scope.enter(_scope.including(signal))
    leaked = _scope.push(opened)  # as a generator body suspended inside its own abort_scope
    assert leaked is not _scope.UNCHANGED
    left = _scope.restore(token)
    assert left == (signal, opened)
    assert _scope.current() == ()
    assert _scope.including(signal) == (signal,)
    token = _scope.enter(left)  # the next resumption
    assert _scope.including(signal) == (signal, opened), "a signal in scope was added twice"
    _scope.restore(token)


def test_the_scope_follows_the_task_not_the_loop() -> None:
    signal = AbortController().signal

    async def other() -> tuple[object, ...]:
        return _scope.current()

    async def main() -> tuple[tuple[object, ...], tuple[object, ...]]:
        task = asyncio.ensure_future(other())  # created outside the scope
        async with abort_scope(signal):
            inside = await asyncio.ensure_future(other())  # created inside: inherits it
            return inside, await task

    inside, outside = asyncio.run(main())
    assert inside == (signal,) and outside == ()
