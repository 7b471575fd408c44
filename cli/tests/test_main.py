"""The ``abortkit`` console script: installed, and its providers are the registry's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from abortkit_providers import registry


def script() -> str:
    """The ``abortkit`` script of this environment (next to its python), as a user runs it."""
    beside = Path(sys.executable).with_name("abortkit")
    found = str(beside) if beside.exists() else shutil.which("abortkit")
    assert found is not None, "abortkit-cli is not installed: no 'abortkit' command"
    return found


def test_the_console_script_runs_the_commands() -> None:
    run = subprocess.run([script(), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "{demo,probe,chat}" in run.stdout


def test_probe_and_chat_offer_every_registered_provider_and_say_which_url_it_wants() -> None:
    for command in ("probe", "chat"):
        run = subprocess.run([script(), command, "--help"], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert "{" + ",".join(registry.PROVIDERS) + "}" in " ".join(run.stdout.split())  # argparse wraps usage
        lines = [" ".join(line.split()) for line in run.stdout.splitlines()]
        for spec in registry.SPECS:
            assert any(line.startswith(f"{spec.name} {spec.base_url_form}; {spec.key_variable}") for line in lines), (
                spec.name, run.stdout)


def test_an_unknown_provider_is_a_usage_error() -> None:
    run = subprocess.run([script(), "probe", "--provider", "gpt", "--base-url", "http://x", "--model", "m"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "invalid choice: 'gpt'" in run.stderr
