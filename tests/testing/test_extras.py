"""A missing extra is named in one line, wherever it is needed.

Each case runs in a fresh interpreter where the extra's module cannot be imported (a
finder first on ``sys.meta_path`` raises ``ModuleNotFoundError: No module named ...`` for
it, as when it is not installed), and checks the error a user would meet: an
``ImportError`` whose message names the feature, the module and the ``pip install``
command.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SHIM = """
import sys

class NotInstalled:
    \"\"\"Finds nothing for the hidden modules and says so as a missing module would.\"\"\"

    def __init__(self, *names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if any(name == hidden or name.startswith(hidden + ".") for hidden in self.names):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

def hide(*names):
    sys.meta_path.insert(0, NotInstalled(*names))

"""


def run_without(module: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (after dedent) in a new interpreter in which ``module`` cannot be imported."""
    shim = SHIM + f"hide({module!r})\n"
    return subprocess.run(
        [sys.executable, "-c", shim + textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120
    )


def error_of(module: str, statement: str) -> str:
    """``type: message`` of the ImportError ``statement`` raises when ``module`` is missing."""
    run = run_without(
        module,
        f"""
        try:
            {statement}
        except ImportError as error:
            assert error.name == {module!r}, error.name
            print(type(error).__name__ + ": " + str(error))
        else:
            print("no error")
        """,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


@pytest.mark.parametrize(
    ("module", "statement", "feature", "extra"),
    [
        ("h11", "from abortkit.testing import MockLLMServer", "abortkit.testing.MockLLMServer", "mock-server"),
        ("h11", "from abortkit.testing import BufferingProxy", "abortkit.testing.BufferingProxy", "mock-server"),
        ("hypothesis", "from abortkit.testing import run_race", "abortkit.testing.run_race", "race"),
        ("hypothesis", "from abortkit.testing import race_plans", "abortkit.testing.race_plans", "race"),
        (
            "trustme",
            "from abortkit.testing import MockLLMServer; MockLLMServer(tls=True).start()",
            "abortkit.testing over TLS (tls=True)",
            "mock-server",
        ),
    ],
)
def test_the_error_names_the_extra_to_install(module: str, statement: str, feature: str, extra: str) -> None:
    message = error_of(module, statement)
    assert message == (
        f"MissingExtraError: {feature} needs {module}, which is not installed: pip install 'abortkit[{extra}]'"
    )


def test_what_needs_no_extra_still_works_without_them() -> None:
    run = run_without(
        "h11",
        """
        hide("hypothesis", "trustme")
        from abortkit.testing import Script, SlowStream, Text
        assert Script(steps=[Text("x")]).steps
        assert list(SlowStream(range(2))) == [0, 1]
        import abortkit.testing._plugin
        """,
    )
    assert run.returncode == 0, run.stderr


def test_a_plain_server_does_not_need_trustme() -> None:
    run = run_without(
        "trustme",
        """
        from abortkit.testing import MockLLMServer
        with MockLLMServer() as server:
            assert server.base_url.startswith("http://")
        """,
    )
    assert run.returncode == 0, run.stderr


def test_another_missing_module_is_not_reported_as_an_extra() -> None:
    # Not one of the extras' modules: the original error, unchanged.
    assert error_of("abortkit.testing._render", "from abortkit.testing import MockLLMServer") == (
        "ModuleNotFoundError: No module named 'abortkit.testing._render'"
    )


@pytest.mark.parametrize(
    ("module", "fixture", "feature", "extra"),
    [
        ("h11", "mock_llm_server", "abortkit.testing.MockLLMServer", "mock-server"),
        ("h11", "mock_llm_server_tls", "abortkit.testing.MockLLMServer", "mock-server"),
        ("hypothesis", "race_runner", "abortkit.testing.run_race", "race"),
    ],
)
def test_the_plugin_fixtures_name_the_extra(tmp_path: Path, module: str, fixture: str, feature: str, extra: str) -> None:
    test_file = tmp_path / "test_downstream.py"
    test_file.write_text(f"def test_uses_it({fixture}):\n    pass\n")
    # hypothesis's own pytest plugin cannot load without hypothesis: leave it out, as an
    # environment without hypothesis would not have it.
    options = ["-p", "no:hypothesispytest"] if module == "hypothesis" else []
    run = run_without(
        module,
        "import pytest\nsys.exit(pytest.main(sys.argv[1:]))",
        str(test_file), *options, "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), "-c", "/dev/null",
    )
    assert run.returncode == 1, run.stdout + run.stderr  # one error at set-up, not a crash of pytest
    line = f"MissingExtraError: {feature} needs {module}, which is not installed: pip install 'abortkit[{extra}]'"
    assert line in run.stdout, run.stdout
    assert "1 error" in run.stdout, run.stdout
