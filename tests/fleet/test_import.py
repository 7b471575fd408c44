"""``import abortkit`` never imports redis; ``import abortkit.fleet`` without redis
raises an ImportError that says, in one line, which extra to install."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_importing_abortkit_does_not_import_redis() -> None:
    result = _run("import sys, abortkit, abortkit.testing; print('redis' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_without_redis_the_import_error_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None  # as if redis-py were not installed\n"
        "try:\n"
        "    import abortkit.fleet\n"
        "except ImportError as exc:\n"
        "    print(str(exc))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert "\n" not in message
    assert message == "abortkit.fleet needs the redis package (redis-py 5 or later): pip install 'abortkit[redis]'"
