"""The baseline strategies behave as the benchmarks claim, against the real mock server.

Loose bounds (this runs in the default suite on shared machines): a strategy that wakes the
reader must unwind within 100 ms of the abort (it takes about 1 ms); the polling worker within
one poll period plus slack. The seed's close-only pattern must *not* wake the reader: it has to
wait for the next chunk, which is what makes it the honest "before" of the benchmarks.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from abortkit_cli.baselines import (
    ASYNC_STRATEGIES,
    SYNC_STRATEGIES,
    UnwindNotMeasured,
    abortkit_close_on_abort,
    measure_unwind,
    measure_unwind_async,
    polling_worker,
)

from abortkit import AbortController, AbortError
from abortkit.testing._script import Gap, Script, Stall
from abortkit.testing._server import MockLLMServer

MESSAGES: Any = [{"role": "user", "content": "hi"}]
GAP = 2.0
ABORT_AFTER = 0.03
WAKES_WITHIN = 0.100
POLL_SLACK = 0.050
CLOSE_ONLY_GAP = 0.3


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv
        assert srv.errors == []


def _sync_opener(server: MockLLMServer, sdk: str) -> tuple[Any, Callable[[], Any]]:
    if sdk == "openai":
        oc = openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0, http_client=httpx2.Client())
        return oc, lambda: oc.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    ac = anthropic.Anthropic(
        base_url=server.anthropic_base_url, api_key="x", max_retries=0, http_client=httpx2.Client()
    )
    return ac, lambda: ac.messages.stream(model="m", max_tokens=64, messages=MESSAGES).__enter__()


def _async_opener(server: MockLLMServer, sdk: str) -> tuple[Any, Callable[[], Awaitable[Any]]]:
    if sdk == "openai":
        oc = openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="x", max_retries=0, http_client=httpx2.AsyncClient()
        )

        async def open_openai() -> Any:
            return await oc.chat.completions.create(model="m", messages=MESSAGES, stream=True)

        return oc, open_openai
    ac = anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="x", max_retries=0, http_client=httpx2.AsyncClient()
    )

    async def open_anthropic() -> Any:
        return await ac.messages.stream(model="m", max_tokens=64, messages=MESSAGES).__aenter__()

    return ac, open_anthropic


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("name", ["polling-worker", "bare-shutdown", "abortkit"])
def test_sync_strategy_unwinds_mid_gap(server: MockLLMServer, sdk: str, name: str) -> None:
    client, open_stream = _sync_opener(server, sdk)
    server.enqueue(Script.thinking_gap(gap=GAP))
    with client:
        elapsed = measure_unwind(SYNC_STRATEGIES[name], open_stream, abort_after=ABORT_AFTER)
    bound = WAKES_WITHIN if name != "polling-worker" else 0.1 + POLL_SLACK
    assert 0 < elapsed < bound, f"{name} took {elapsed * 1e3:.1f} ms"
    if name != "polling-worker":  # the orphaned worker leaves only at the next chunk
        assert server.wait_for_disconnect(server.requests[-1], 2.0) is not None


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_sync_close_only_waits_for_the_next_chunk(server: MockLLMServer, sdk: str) -> None:
    """The seed's cross-thread ``response.close()`` does not wake the blocked read."""
    client, open_stream = _sync_opener(server, sdk)
    server.enqueue(Script.thinking_gap(gap=CLOSE_ONLY_GAP))
    with client:
        elapsed = measure_unwind(SYNC_STRATEGIES["close-only"], open_stream, abort_after=ABORT_AFTER)
    rest_of_gap = CLOSE_ONLY_GAP - ABORT_AFTER
    assert rest_of_gap - 0.05 < elapsed < rest_of_gap + 1.0, f"close-only took {elapsed * 1e3:.1f} ms"


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
@pytest.mark.parametrize("name", ["close-only", "bare-shutdown", "abortkit"])
def test_async_strategy_unwinds_mid_gap(server: MockLLMServer, sdk: str, name: str) -> None:
    async def main() -> float:
        client, open_stream = _async_opener(server, sdk)
        server.enqueue(Script.thinking_gap(gap=GAP))
        async with client:
            return await measure_unwind_async(ASYNC_STRATEGIES[name], open_stream, abort_after=ABORT_AFTER)

    elapsed = asyncio.run(main())
    assert 0 < elapsed < WAKES_WITHIN, f"{name} took {elapsed * 1e3:.1f} ms"
    assert server.wait_for_disconnect(server.requests[-1], 2.0) is not None


def test_abort_carries_the_items_handed_over(server: MockLLMServer) -> None:
    client, open_stream = _sync_opener(server, "openai")
    server.enqueue(Script.thinking_gap(first="Hello", gap=GAP, then=" world"))
    controller = AbortController()
    with client:
        stream = open_stream()
        texts: list[str] = []

        def on_item(chunk: Any) -> None:
            content = chunk.choices[0].delta.content if chunk.choices else None
            if content:
                texts.append(content)
                controller.abort("esc")

        with pytest.raises(AbortError) as caught:
            polling_worker(stream, controller.signal, on_item)
    assert texts == ["Hello"]
    assert caught.value.reason == "esc"
    assert len(caught.value.partial) >= 1


def test_already_aborted_and_nothing_to_measure(server: MockLLMServer) -> None:
    client, open_stream = _sync_opener(server, "openai")
    with client:
        server.enqueue(Script.simple())
        assert 0 < measure_unwind(abortkit_close_on_abort, open_stream, abort_after=None) < WAKES_WITHIN
        server.enqueue(Script.simple())  # ends long before the abort would fire
        with pytest.raises(UnwindNotMeasured):
            measure_unwind(abortkit_close_on_abort, open_stream, abort_after=5.0)
        server.enqueue(Script(steps=(Gap(0), Stall())))  # headers, then silence: no trigger item
        with pytest.raises(UnwindNotMeasured):  # the consumer is freed, the trial measures nothing
            measure_unwind(abortkit_close_on_abort, open_stream, abort_after=0.01, timeout=0.2)


def _waits_for_the_abort(stamps: dict[str, float]) -> Callable[[Any, Any, Any], list[Any]]:
    """A consumer of nothing that blocks until the signal trips (the stopwatch's own logic)."""

    def strategy(stream: Any, signal: Any, on_item: Any) -> list[Any]:
        tripped = threading.Event()
        signal.add_listener(tripped.set)
        tripped.wait(10)
        stamps["aborted"] = time.perf_counter()
        raise AbortError(signal.reason)

    return strategy


def test_armed_by_starts_the_delay_when_it_returns_true() -> None:
    started = time.perf_counter()
    stamps: dict[str, float] = {}

    def armed_by(wait: float) -> bool:
        if time.perf_counter() - started >= 0.2:
            return True
        time.sleep(wait)
        return False

    elapsed = measure_unwind(_waits_for_the_abort(stamps), lambda: None, abort_after=0.05, after_items=0,
                             armed_by=armed_by)
    assert stamps["aborted"] - started >= 0.25  # armed at 0.2 s, then the 50 ms delay
    assert 0 <= elapsed < WAKES_WITHIN


def test_a_consumer_done_before_armed_by_is_not_kept_waiting() -> None:
    started = time.perf_counter()

    def quick(stream: Any, signal: Any, on_item: Any) -> list[Any]:
        time.sleep(0.05)
        return []

    def never(wait: float) -> bool:
        time.sleep(wait)
        return False

    with pytest.raises(UnwindNotMeasured, match="the abort never fired"):
        measure_unwind(quick, lambda: None, abort_after=0.0, after_items=0, timeout=20.0, armed_by=never)
    assert time.perf_counter() - started < 2.0  # not the 20 s timeout


def test_armed_by_never_true_frees_the_consumer_after_the_timeout() -> None:
    stamps: dict[str, float] = {}

    def never(wait: float) -> bool:
        time.sleep(wait)
        return False

    with pytest.raises(UnwindNotMeasured):
        measure_unwind(_waits_for_the_abort(stamps), lambda: None, abort_after=0.0, after_items=0, timeout=0.2,
                       armed_by=never)
    assert "aborted" in stamps  # the signal was tripped anyway, so the consumer got out
