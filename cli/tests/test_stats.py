"""``abortkit_cli.stats``: the one percentile (linear interpolation between closest ranks)."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from abortkit_cli.stats import median, percentile, summary


def test_linear_interpolation_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 25) == pytest.approx(1.75)
    assert percentile(range(1, 101), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_the_median_is_the_standard_librarys() -> None:
    rng = random.Random(1)
    for size in range(1, 40):
        values = [rng.random() for _ in range(size)]
        assert median(values) == pytest.approx(statistics.median(values))


def test_no_values_give_nan_and_a_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    assert all(math.isnan(v) for k, v in summary([]).items() if k != "n")
    for q in (-1, 100.5, True, "50", math.nan):
        with pytest.raises(ValueError, match="q must be a number in"):
            percentile([1.0], q)  # type: ignore[arg-type]


def test_summary() -> None:
    assert summary([3.0, 1.0, 2.0]) == {"n": 3, "min": 1.0, "p50": 2.0, "p99": pytest.approx(2.98), "max": 3.0}
