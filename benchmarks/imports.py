"""(k) Import cost: what ``import abortkit`` adds to an application's cold start.

Each figure is the sum of the cumulative ``python -X importtime`` times of the top-level
imports a fresh interpreter makes for the statement, minus those of ``pass`` (the
interpreter's own start-up imports), best of the repeats: the statements run in
subprocesses, one per repeat, so nothing is cached in between.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

STATEMENTS = {
    "import abortkit": "import abortkit",
    "every public name of abortkit": "import abortkit; [getattr(abortkit, n) for n in abortkit.__all__]",
    "the pytest plugin (abortkit.testing._plugin)": "import abortkit.testing._plugin",
}
BASELINE = "pass"


def _top_level_microseconds(statement: str) -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    total = 0
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].startswith(" ") and not parts[2].startswith("  "):
            try:
                total += int(parts[1])
            except ValueError:  # the header line
                continue
    return total


def run(quick: bool, log: Callable[[str], None]) -> dict[str, Any]:
    repeats = 5 if quick else 15
    samples: dict[str, list[float]] = {name: [] for name in (BASELINE, *STATEMENTS)}
    for _ in range(repeats):  # interleaved, so a burst of load hits every statement alike
        samples[BASELINE].append(_top_level_microseconds(BASELINE) / 1e6)
        for name, statement in STATEMENTS.items():
            samples[name].append(_top_level_microseconds(statement) / 1e6)
    base = min(samples[BASELINE])
    log(f"  imports: {repeats} repeats of {len(STATEMENTS)} statements")
    return {
        "repeats": repeats,
        "baseline": {"min": base, "median": statistics.median(samples[BASELINE])},
        "statements": {
            name: {"min": min(values) - base, "median": statistics.median(values) - base}
            for name, values in samples.items()
            if name != BASELINE
        },
    }
