"""The SDKs' own retry back-off (``_backoff.py``), with the real openai and anthropic SDKs.

A 500 with ``retry-after`` makes the SDK sleep before its next attempt; no socket is open
then. Inside an ``abort_scope`` an instrumented client must wake from that sleep at the
abort and never make the next attempt; without an abort the sleep must last as long as the
SDK asked, in a scope or not; and one client shared by a thread that aborts and one that
does not must keep their retries apart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from abortkit import AbortController, AbortError, AbortSignal, abort_scope, instrument
from abortkit.testing import HTTPError, MockLLMServer

from .conftest import HANG_BOUND, MESSAGES, Tripper, sdk_client

SDKS = ["openai", "anthropic"]
RETRY_AFTER = 0.6  # seconds the server asks the SDK to wait before the next attempt


def _sync_text(sdk: str, client: Any) -> str:
    if sdk == "openai":
        chunks = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    events = client.messages.create(model="m", messages=MESSAGES, max_tokens=64, stream=True)
    return "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")


async def _async_text(sdk: str, client: Any) -> str:
    if sdk == "openai":
        chunks = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
    events = await client.messages.create(model="m", messages=MESSAGES, max_tokens=64, stream=True)
    return "".join(
        [e.delta.text async for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"]
    )


def _text_in_scope(sdk: str, client: Any, asynchronous: bool, signal: AbortSignal | None) -> str:
    """One streamed answer under ``abort_scope(signal)`` (None: no scope), sync or async."""
    if not asynchronous:
        with abort_scope(signal):
            return _sync_text(sdk, client)

    async def run() -> str:
        async with abort_scope(signal):
            return await _async_text(sdk, client)

    return asyncio.run(run())


def _retry_gap(server: MockLLMServer) -> float:
    """Seconds between the 500's response and the next attempt's arrival at the server."""
    first, second = server.requests[:2]
    assert first.finished_at is not None
    return second.received_at - first.finished_at


@pytest.mark.parametrize("via", ["client", "with_options", "copy"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("sdk", SDKS)
def test_an_abort_during_the_backoff_unwinds_at_once_and_never_retries(
    mock_llm_server: MockLLMServer, sdk: str, asynchronous: bool, via: str
) -> None:
    """Also through ``client.with_options()``/``copy()``: new instances, which must inherit it."""
    server = mock_llm_server
    retries = 2 if via == "client" else 0  # the copies get max_retries=2
    client = instrument(sdk_client(sdk, server, asynchronous=asynchronous, max_retries=retries))
    if via != "client":
        client = getattr(client, via)(max_retries=2)
    controller = AbortController()
    tripper = Tripper(controller, delay=0.2)  # the 500 arrives within ms: the SDK is asleep by then
    server.enqueue(HTTPError(500, retry_after=RETRY_AFTER))
    started = time.perf_counter()
    tripper.armed.set()
    with pytest.raises(AbortError) as caught:
        _text_in_scope(sdk, client, asynchronous, controller.signal)
    unwind = tripper.unwind_seconds()
    assert caught.value.reason == "esc"
    assert unwind < HANG_BOUND, f"unwound {unwind * 1e3:.0f} ms after the abort (the SDK slept through it)"
    time.sleep(max(0.0, started + RETRY_AFTER + 0.3 - time.perf_counter()))  # past the back-off
    assert server.request_count == 1, "the SDK made another attempt after the abort"


@pytest.mark.parametrize("in_scope", [True, False], ids=["in-scope", "no-scope"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("sdk", SDKS)
def test_without_an_abort_the_backoff_lasts_as_long_as_the_sdk_asked(
    mock_llm_server: MockLLMServer, sdk: str, asynchronous: bool, in_scope: bool
) -> None:
    server = mock_llm_server
    client = instrument(sdk_client(sdk, server, asynchronous=asynchronous, max_retries=2))
    signal = AbortController().signal
    server.enqueue(HTTPError(500, retry_after=RETRY_AFTER))
    text = _text_in_scope(sdk, client, asynchronous, signal if in_scope else None)
    assert text, "the retried request did not complete"
    assert server.request_count == 2
    gap = _retry_gap(server)
    # Lower bound only (the point is that the delay is kept); the upper one catches a double sleep.
    assert RETRY_AFTER - 0.05 <= gap < 2 * RETRY_AFTER, f"retried {gap:.2f} s after the 500"
    assert signal.listener_count == 0


@pytest.mark.parametrize("sdk", SDKS)
def test_one_client_two_threads_the_abort_stays_with_its_own_retry(mock_llm_server: MockLLMServer, sdk: str) -> None:
    """The recorded delay lives in a context variable: a thread outside any scope sharing the
    client keeps its own back-off and its own retry while another thread's is aborted."""
    server = mock_llm_server
    client = instrument(sdk_client(sdk, server, asynchronous=False, max_retries=2))
    server.enqueue(HTTPError(500, retry_after=RETRY_AFTER), HTTPError(500, retry_after=RETRY_AFTER))
    controller = AbortController()
    tripper = Tripper(controller, delay=0.2)
    outcomes: dict[str, Any] = {}
    both_sent = threading.Barrier(2)

    def aborted() -> None:
        both_sent.wait(5)
        tripper.armed.set()
        try:
            with abort_scope(controller.signal):
                outcomes["aborted"] = _sync_text(sdk, client)
        except BaseException as exc:
            outcomes["aborted"] = exc
            outcomes["unwind"] = tripper.unwind_seconds()

    def plain() -> None:
        both_sent.wait(5)
        try:
            outcomes["plain"] = _sync_text(sdk, client)
        except BaseException as exc:
            outcomes["plain"] = exc

    threads = [threading.Thread(target=aborted), threading.Thread(target=plain)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(outcomes["aborted"], AbortError), outcomes
    assert outcomes["unwind"] < HANG_BOUND, f"unwound {outcomes['unwind'] * 1e3:.0f} ms after the abort"
    assert isinstance(outcomes["plain"], str) and outcomes["plain"], outcomes
    assert server.request_count == 3  # two 500s, then only the thread without an abort retried
    first, second, retry = server.requests
    answered = max(r.finished_at for r in (first, second) if r.finished_at is not None)
    gap = retry.received_at - answered
    assert gap >= RETRY_AFTER - 0.05, f"the plain thread retried {gap:.2f} s after the 500s: its delay was taken"


def test_instrument_wraps_the_backoff_once_and_only_on_sdk_clients(mock_llm_server: MockLLMServer) -> None:
    import httpx2

    client = sdk_client("openai", mock_llm_server, asynchronous=False)
    instrument(client)
    sleep, delay = client._sleep_for_retry, client._calculate_retry_timeout
    assert sleep.__wrapped__ is not None and delay.__wrapped__ is not None
    instrument(client)  # idempotent: not wrapped twice
    assert client._sleep_for_retry is sleep and client._calculate_retry_timeout is delay
    for name in ("copy", "with_options"):
        copy = getattr(client, name)(max_retries=1)
        assert copy is not client and vars(copy)["_abortkit_backoff"] is True
    plain = httpx2.Client()
    instrument(plain)
    assert not hasattr(plain, "_sleep_for_retry") and "_abortkit_backoff" not in vars(plain)


def test_instrument_backoff_recognises_only_both_methods() -> None:
    """Either method alone is not the SDK pattern: the object is left exactly as it was."""
    from abortkit._backoff import instrument_backoff

    class OnlySleep:
        def _sleep_for_retry(self) -> None: ...

    class OnlyDelay:
        def _calculate_retry_timeout(self) -> float:
            return 1.0

    class Both(OnlySleep, OnlyDelay):
        pass

    for cls in (OnlySleep, OnlyDelay):
        obj = cls()
        assert instrument_backoff(obj, instrument) is False
        assert vars(obj) == {}
    both = Both()
    assert instrument_backoff(both, instrument) is True
    assert set(vars(both)) == {"_sleep_for_retry", "_calculate_retry_timeout", "_abortkit_backoff"}
    assert both._calculate_retry_timeout() == 1.0  # outside a scope: the SDK's own value
    assert instrument_backoff(both, instrument) is True
