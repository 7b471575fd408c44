"""Suite-wide guard: no test may leave an ``abort_scope`` open in the thread's context.

A scope left in the main thread's context would govern every later test's instrumented
requests (they would see a long-tripped signal and fail at connect), far from the test
that leaked it. Failing here names the leaking test instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abortkit import current_signals


@pytest.fixture(autouse=True)
def _no_abort_scope_left_open() -> Iterator[None]:
    before = current_signals()
    yield
    after = current_signals()
    assert after == before, f"the test left abort scopes open in this context: {after!r} (was {before!r})"
