"""The one percentile of the project: the demo, the benchmarks and their report all use it.

Linear interpolation between the closest ranks (numpy's default, and the definition
``statistics.median`` agrees with at 50): the same samples give the same p50 wherever
they are summarised, so ``abortkit demo`` and ``python -m benchmarks`` can be compared
figure for figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["median", "percentile", "summary"]


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (``q`` in [0, 100]) of ``values``; NaN when there are none."""
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValueError(f"q must be a number in [0, 100], not {q!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    """``percentile(values, 50)``."""
    return percentile(values, 50)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, min, p50, p99 and max of ``values`` (NaN for each figure when there are none)."""
    return {
        "n": len(values),
        "min": min(values) if values else math.nan,
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }
