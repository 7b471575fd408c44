"""``abort_scope``: sequential reuse, no re-entry, and a signal already in scope not pushed twice."""

from __future__ import annotations

from typing import Any

import pytest

from abortkit import AbortController


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
