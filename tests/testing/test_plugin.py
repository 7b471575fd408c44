"""The pytest plugin as a downstream project meets it: fixtures there, overridable, removable.

Each case runs pytest in a fresh interpreter on a small project of its own, through the
``pytest11`` entry point the distribution installs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pytest_in(project: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project),
         "-c", str(project / "pytest.ini"), *options, str(project)],
        capture_output=True, text=True, timeout=120,
    )


def project(tmp_path: Path, test: str, conftest: str | None = None) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_downstream.py").write_text(test)
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(conftest)
    return tmp_path


def test_the_fixtures_work_in_a_downstream_project(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "from abortkit import AbortController\n"
        "from abortkit.testing import MockLLMServer\n"
        "def test_fixtures(abort_controller, mock_llm_server):\n"
        "    assert type(abort_controller) is AbortController and not abort_controller.signal.aborted\n"
        "    assert isinstance(mock_llm_server, MockLLMServer) and mock_llm_server.port > 0\n",
    )
    run = pytest_in(root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_a_conftest_fixture_of_the_same_name_wins(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "def test_overridden(abort_controller):\n    assert abort_controller == 'from conftest'\n",
        conftest="import pytest\n\n@pytest.fixture\ndef abort_controller():\n    return 'from conftest'\n",
    )
    run = pytest_in(root)
    assert run.returncode == 0, run.stdout + run.stderr


def test_disabling_the_plugin_removes_the_fixtures(tmp_path: Path) -> None:
    root = project(tmp_path, "def test_needs_it(abort_controller):\n    pass\n")
    run = pytest_in(root, "-p", "no:abortkit")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "fixture 'abort_controller' not found" in run.stdout
