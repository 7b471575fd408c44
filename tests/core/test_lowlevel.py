"""``abortkit.lowlevel``: the low-level public names, and their aliases in ``abortkit``."""

from __future__ import annotations

import threading
import time

import pytest

import abortkit
import abortkit.lowlevel as lowlevel
from abortkit import AbortController, AbortError, abort_scope
from abortkit.testing import MockLLMServer, Script


def test_every_low_level_name_is_also_in_abortkit_as_the_same_object() -> None:
    assert sorted(lowlevel.__all__) == ["AbortableAsyncNetworkBackend", "AbortableNetworkBackend", "current_signals"]
    for name in lowlevel.__all__:
        # In abortkit.__all__ too: the bad-input table's "every public name has a row"
        # guard walks abortkit.__all__, so it covers these objects.
        assert name in abortkit.__all__
        assert getattr(abortkit, name) is getattr(lowlevel, name)


def test_a_connection_pool_built_on_the_low_level_backend_obeys_the_scope() -> None:
    """The module docstring's example: a transport instrument() cannot reach, wired by hand."""
    httpcore2 = pytest.importorskip("httpcore2")
    with MockLLMServer() as server:
        server.enqueue(Script.thinking_gap(first="Hello", gap=10.0, then=" world"))
        controller = AbortController()
        pool = httpcore2.ConnectionPool(network_backend=lowlevel.AbortableNetworkBackend(httpcore2.SyncBackend()))
        url = f"{server.openai_base_url}/chat/completions"
        body = b'{"model": "m", "messages": [], "stream": true}'
        threading.Timer(0.2, controller.abort, ("esc",)).start()
        started = time.monotonic()
        with pytest.raises(AbortError) as caught, abort_scope(controller.signal):
            assert lowlevel.current_signals() == (controller.signal,)
            with pool.stream("POST", url, headers={"content-type": "application/json"}, content=body) as response:
                for _ in response.iter_stream():
                    pass
        assert time.monotonic() - started < 5.0  # not the 10 s gap
        assert caught.value.reason == "esc"
        (request,) = server.requests
        assert server.wait_for_disconnect(request, 2.0) is not None
        pool.close()
