"""The README's code runs as written: the provider quick start and the downstream test."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

from abortkit import AbortController
from abortkit.testing import MockLLMServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_exactly_two_setup_commands() -> None:
    (setup,) = re.findall(r"## Set up\n.*?```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    commands = [line for line in setup.splitlines() if line and not line.startswith("#")]
    assert commands == [
        'pip install -e ".[testing]" -e ./providers && abortkit demo',
        'pip install -e ".[test]" -e ./providers && python -m pytest',
    ]


def test_quick_start_provider_passes_the_readme_test(
    mock_llm_server: MockLLMServer, abort_controller: AbortController, monkeypatch: Any
) -> None:
    quick_start, downstream_test = python_blocks()[:2]
    module = types.ModuleType("my_provider")
    exec(compile(quick_start, "README quick start", "exec"), module.__dict__)
    monkeypatch.setitem(sys.modules, "my_provider", module)
    namespace: dict[str, Any] = {}
    exec(compile(downstream_test, "README downstream test", "exec"), namespace)
    namespace["test_esc_in_a_thinking_gap"](mock_llm_server, abort_controller)


def test_testing_exports_match_their_modules() -> None:
    import abortkit.testing as testing

    assert sorted(testing.__all__) == sorted(testing._WHERE)
    for name in testing.__all__:
        assert getattr(testing, name) is not None


def test_race_runner_fixture_checks_the_race(race_runner: Any) -> None:
    from abortkit import abortable_iter
    from abortkit.testing import RacePlan, SlowStream

    def body(signal: Any, cp: Any) -> None:
        for item in abortable_iter(SlowStream(range(3)), signal):
            cp.deliver(item)
            cp("mid_iteration")
        cp("after_exit")

    result = race_runner(body, RacePlan(thread="consumer", at="mid_iteration:1"))
    assert result.outcome != "returned"  # the abort at the first item stopped the body
