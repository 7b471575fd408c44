"""``abortkit._validate``: the shared argument checks and their wording."""

from __future__ import annotations

import math

import pytest

from abortkit import IdleWatchdog


@pytest.mark.found_by_mutation
def test_seconds_validation_names_the_type_and_the_value() -> None:
    from abortkit import AbortSignal

    with pytest.raises(TypeError) as caught:
        AbortSignal.timeout("1")  # type: ignore[arg-type]
    assert str(caught.value).endswith(", not str")
    with pytest.raises(TypeError) as caught:
        IdleWatchdog([])  # type: ignore[arg-type]
    assert str(caught.value).endswith(", not list")


@pytest.mark.found_by_mutation
def test_validation_helpers() -> None:
    from abortkit import _validate

    assert _validate.type_name(5) == "int"
    assert _validate.is_finite(1.5) and not _validate.is_finite(math.inf)
    assert not _validate.is_finite(10**400)  # too large for a float: not finite, no OverflowError
    assert _validate.is_number(2) and not _validate.is_number(True) and not _validate.is_number("2")


@pytest.mark.found_by_mutation
def test_seconds_messages_say_what_is_wanted() -> None:
    from abortkit._validate import seconds

    with pytest.raises(ValueError) as caught:
        seconds("x", 0, positive=True)
    assert str(caught.value) == "x must be > 0, not 0"
    with pytest.raises(ValueError) as caught:
        seconds("x", math.inf, finite=True)
    assert str(caught.value) == "x must be >= 0 and finite, not inf"
    with pytest.raises(ValueError) as caught:
        seconds("x", -1)
    assert str(caught.value) == "x must be >= 0, not -1"
    with pytest.raises(ValueError) as caught:
        seconds("x", 0, positive=True, finite=True)
    assert str(caught.value) == "x must be a positive finite number, not 0"
    assert seconds("x", 0) == 0.0 and seconds("x", math.inf) == math.inf
