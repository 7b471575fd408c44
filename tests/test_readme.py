"""The README's code runs as written: the provider quick start, the downstream test, the ASGI example."""

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
        'pip install -e . -e ./providers -e ./cli && abortkit demo',
        'pip install -e ".[test]" -e ./providers -e ./cli && python -m pytest',
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


def test_asgi_example_stops_the_upstream_when_the_client_leaves() -> None:
    """The ``abortkit.asgi`` block, served by uvicorn in front of the mock model: a client that
    gives up while the model thinks closes the upstream request at once; one that stays gets
    the answer."""
    import time

    import httpx2
    import pytest

    from abortkit.testing import Gap, Script, Text
    from abortkit.testing._asgi_server import running

    (block,) = [b for b in python_blocks() if "AbortOnDisconnect" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README abortkit.asgi example", "exec"), namespace)
    with MockLLMServer() as model:
        namespace["UPSTREAM"] = model.openai_base_url + "/chat/completions"
        with running(namespace["app"], "uvicorn") as url:
            gateway = url + "/v1/chat/completions"
            with httpx2.Client() as client:
                answer = client.post(gateway, json={"model": "m", "messages": []})
            assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"]
            model.enqueue(Script(steps=(Gap(10.0), Text("too late"))))
            with httpx2.Client(timeout=0.3) as client, pytest.raises(httpx2.ReadTimeout):
                client.post(gateway, json={"model": "m", "messages": []})
            left = time.monotonic()
            thinking = model.requests[-1]
            closed = model.wait_for_disconnect(thinking, 2.0)
            assert closed is not None and closed - left < 0.2, "the model kept generating"  # 20x the 10 ms target
            assert thinking.completed is False
