"""The fixtures of the pytest plugin, registered by ``_plugin`` once pytest is running.

Each fixture imports what it uses when a test asks for it: this module is registered in
every pytest run wherever abortkit is installed, and must cost that run nothing (a missing
extra is reported by the fixture that needs it, see ``_extras``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from abortkit import AbortController
    from abortkit.testing import MockLLMServer, RacePlan, RaceResult


@pytest.fixture
def abort_controller() -> AbortController:
    """A fresh ``AbortController`` for one test."""
    from abortkit import AbortController

    return AbortController()


@pytest.fixture
def mock_llm_server() -> Iterator[MockLLMServer]:
    """A plain-HTTP mock LLM server on 127.0.0.1, fresh for each test."""
    from abortkit.testing import MockLLMServer

    with MockLLMServer() as server:
        yield server


@pytest.fixture
def mock_llm_server_tls() -> Iterator[MockLLMServer]:
    """The mock LLM server over TLS (trustme CA: see ``server.ssl_context()``)."""
    from abortkit.testing import MockLLMServer

    with MockLLMServer(tls=True) as server:
        yield server


@pytest.fixture
def race_runner() -> Callable[..., RaceResult]:
    """``race_runner(body, plan, **options)``: ``run_race`` whose result is checked.

    Raises ``AssertionError`` naming every broken invariant (with the race's timeline);
    returns the ``RaceResult`` for further assertions.
    """
    from abortkit.testing import run_race

    def run(body: Callable[..., Any], plan: RacePlan, *, max_unwind: float = 1.0, **options: Any) -> RaceResult:
        result = run_race(body, plan, **options)
        result.check(max_unwind=max_unwind)
        return result

    return run
