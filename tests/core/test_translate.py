"""``abortkit._translate``: the one place that turns an exception under a tripped signal into
``AbortError``, chaining what was raised."""

from __future__ import annotations

import pytest

from tests._helpers.signals import _aborted


@pytest.mark.found_by_mutation
def test_as_abort_error_chains_its_cause() -> None:
    from abortkit._errors import AbortUnwind
    from abortkit._translate import as_abort_error

    signal = _aborted("esc")
    failure = OSError("bad fd")
    error = as_abort_error(failure, signal)
    assert error is not None and error.reason == "esc" and error.__cause__ is failure
    unwind = AbortUnwind("deep")
    error = as_abort_error(unwind, None)
    assert error is not None and error.reason == "deep" and error.__cause__ is unwind
