"""Providers against the real mock LLM server (and its buffering proxy), plain and TLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from abortkit.testing import MockLLMServer


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
