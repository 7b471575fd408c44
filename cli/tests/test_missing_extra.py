"""``abortkit chat`` and ``abortkit demo`` name a missing extra in one line, without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", ["chat", "demo"])
def test_a_missing_mock_server_extra_is_one_line(command: str) -> None:
    # sys.modules[name] = None: ``import h11`` raises ModuleNotFoundError, as if not installed.
    code = "import sys; sys.modules['h11'] = None; from abortkit_cli.__main__ import main; sys.exit(main())"
    run = subprocess.run(
        [sys.executable, "-c", code, command], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == (
        f"abortkit {command}: abortkit.testing.MockLLMServer needs h11, which is not installed: "
        "pip install 'abortkit[mock-server]'"
    )
