"""``abortkit demo`` end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import time

from abortkit_cli._demo import DEMO_SPECS
from abortkit_cli.trials import PHASES


def test_demo_runs_every_cell_and_exits_zero() -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "abortkit_cli", "demo", "--trials", "2"], capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    table = [line for line in run.stdout.splitlines() if line.startswith("| ")]
    provider_rows = [line for line in table if line.rstrip().endswith("| ok     |")]
    cells = len(DEMO_SPECS) * 2 * len(PHASES)  # providers x sync/async x phases
    assert len(provider_rows) == cells, run.stdout
    assert any("seed close-only" in line for line in table)
    assert any("polling worker" in line for line in table)
    assert f"all {cells * 2} aborts unwound" in run.stdout
    assert elapsed < 60


def test_demo_rejects_bad_trials() -> None:
    run = subprocess.run([sys.executable, "-m", "abortkit_cli", "demo", "--trials", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and "--trials" in run.stderr
