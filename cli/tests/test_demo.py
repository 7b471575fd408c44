"""``abortkit demo`` end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import time

from abortkit_cli import trials


def test_demo_runs_every_cell_and_exits_zero() -> None:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "abortkit_cli", "demo", "--trials", "2"], capture_output=True, text=True, timeout=180
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    table = [line.rstrip() for line in run.stdout.splitlines() if line.startswith("| ")]
    # every registered provider, sync and (where it has one) async, in every phase it can be aborted in
    expected = [(name, mode, phase.name) for name, mode in trials.cells() for phase in trials.phases_for(name)]
    ok_rows = [line for line in table if line.endswith("| ok      |")]
    assert len(ok_rows) == len(expected), run.stdout
    for (name, mode, phase), row in zip(expected, ok_rows, strict=True):
        assert row.startswith(f"| {name:<18} | {mode:<5} | {phase:<20} |"), row
    not_yet = [line for line in table if line.endswith("| not yet |")]
    assert len(not_yet) == sum(len(trials.PHASES) - len(trials.phases_for(name)) for name, _ in trials.cells())
    assert any("seed close-only" in line for line in table)
    assert any("polling worker" in line for line in table)
    assert f"all {len(expected) * 2} aborts unwound" in run.stdout
    assert "skipped" not in run.stdout  # abortkit-cli installs every provider's SDK
    assert elapsed < 120


def test_demo_rejects_bad_trials() -> None:
    run = subprocess.run([sys.executable, "-m", "abortkit_cli", "demo", "--trials", "0"], capture_output=True, text=True)
    assert run.returncode == 2 and "--trials" in run.stderr
