"""Scale: many concurrent async streams, all blocked in a read, against the loopback mock server.

* One controller aborts them all at once: every consumer unwinds with ``AbortError`` well within
  a loose bound (target 100 ms; asserted < 2 s to catch hangs; the measured time is printed), the
  server sees every client leave, and no socket is left open (``/proc/self/fd`` before/after).
* Each stream has its own controller and one is aborted: it unwinds, the others all complete
  with the whole reply.

Default run: 200 streams. ``-m stress``: 1,000.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from abortkit import AbortController, AbortError, abort_scope, abortable_iter, close_on_abort, instrument
from abortkit.testing import MockLLMServer, Script

from ._support import open_fds, wait_for_fds

DEFAULT_N = 200
STRESS_N = 1_000
# Seconds for every consumer to unwind: loose, to catch hangs (the streams sit in a 30 s gap);
# the measured time is printed. The 0.1 s target for 1,000 streams is out of reach through
# httpx2/httpcore2/anyio: benchmark (f) measures asyncio's own Task.cancel() of the same
# consumers, without abortkit, at about 1 s here (abortkit: 0.94x of it).
ALL_BOUND = {DEFAULT_N: 2.0, STRESS_N: 10.0}
ONE_BOUND = 2.0
FIRST = "Hello"
THEN = " world"


@pytest.fixture
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer(default_script=Script.thinking_gap(FIRST, gap=30.0, then=THEN)) as srv:
        yield srv


def _client(n: int, mode: str) -> Any:
    limits = httpx2.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    client = httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(60.0, pool=60.0))
    return instrument(client) if mode == "instrument" else client


def _text(chunks: list[bytes]) -> str:
    import json

    out = []
    for line in b"".join(chunks).decode().split("\n"):
        if line.startswith("data: ") and line != "data: [DONE]":
            for choice in json.loads(line[6:])["choices"]:
                out.append(choice["delta"].get("content") or "")
    return "".join(out)


async def _stream(client: Any, url: str, mode: str, signal: Any, index: int, first_seen: Any) -> list[bytes]:
    """One consumer: read the stream under ``signal``; ``first_seen(index)`` after the first chunk."""
    chunks: list[bytes] = []
    body = {"model": "m", "messages": [{"role": "user", "content": f"stream-{index}"}], "stream": True}
    if mode == "instrument":
        async with abort_scope(signal), client.stream("POST", url, json=body) as response:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                if len(chunks) == 1:
                    first_seen(index)
    else:
        async with client.stream("POST", url, json=body) as response, close_on_abort(signal, response):
            async for chunk in abortable_iter(response.aiter_bytes(), signal):
                chunks.append(chunk)
                if len(chunks) == 1:
                    first_seen(index)
    return chunks


async def _abort_all(server: MockLLMServer, n: int, mode: str) -> dict[str, float]:
    fds_before = open_fds()
    controller = AbortController()
    url = server.openai_base_url + "/chat/completions"
    client = _client(n, mode)
    seen = 0
    all_seen = asyncio.Event()

    def first_seen(_index: int) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            all_seen.set()

    started = time.monotonic()
    tasks = [asyncio.ensure_future(_stream(client, url, mode, controller.signal, i, first_seen)) for i in range(n)]
    try:
        await asyncio.wait_for(all_seen.wait(), 60)
        ramp = time.monotonic() - started
        assert server.wait_for_requests(n, 5)
        # Every consumer is now blocked reading its stream in the 30 s gap. Trip from a real
        # other thread (as a UI or signal thread would), and time until every task is done.
        tripped_at: list[float] = []

        abort_returned = 0.0

        def trip() -> None:
            nonlocal abort_returned
            tripped_at.append(time.monotonic())
            controller.abort("esc")
            abort_returned = time.monotonic()

        thread = threading.Thread(target=trip)
        thread.start()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        unwound = time.monotonic() - tripped_at[0]
        thread.join(5)
    finally:
        for task in tasks:
            task.cancel()
        await client.aclose()
    wrong = [r for r in results if not isinstance(r, AbortError)]
    assert not wrong, f"{len(wrong)} of {n} streams did not end with AbortError, e.g. {wrong[:3]!r}"
    assert controller.signal.listener_count == 0, "listeners left registered on the signal"
    # The server saw every client leave, and when.
    requests = server.requests
    gone = [server.wait_for_disconnect(r, 5.0) for r in requests]
    missing = sum(1 for g in gone if g is None)
    assert missing == 0, f"the server never saw {missing} of {n} clients leave"
    server_saw = max(g for g in gone if g is not None) - tripped_at[0]
    # No socket left open: the client's and the server's ends are all closed.
    fds_after = wait_for_fds(fds_before, 5.0)
    assert fds_after <= fds_before, f"{fds_after - fds_before} file descriptors left open ({fds_before} -> {fds_after})"
    assert not server.errors, server.errors
    print(
        f"\nabort all {n} ({mode}): ramp {ramp:.2f} s, abort() took {(abort_returned - tripped_at[0]) * 1e3:.1f} ms, "
        f"all unwound {unwound * 1e3:.1f} ms after the trip, "
        f"server saw the last disconnect {server_saw * 1e3:.1f} ms after it; fds {fds_before} -> {fds_after}"
    )
    assert unwound < ALL_BOUND[n], f"{n} streams took {unwound:.2f} s to unwind (target 0.1 s)"
    assert abort_returned - tripped_at[0] < ALL_BOUND[n]
    return {"unwound": unwound, "server_saw": server_saw}


async def _abort_one(server: MockLLMServer, n: int) -> None:
    """Each stream has its own controller; one (in the middle of the ramp) is aborted as soon as it
    is blocked in its gap, while the others are connecting, reading or waiting; they complete."""
    # Long enough that most streams are still in their gap when the victim (started mid-ramp) is
    # aborted: the 1,000-stream ramp takes 5-10 s here.
    server.default_script = Script.thinking_gap(FIRST, gap=1.0 if n <= DEFAULT_N else 4.0, then=THEN)
    fds_before = open_fds()
    url = server.openai_base_url + "/chat/completions"
    controllers = [AbortController() for _ in range(n)]
    victim = n // 2
    client = _client(n, "close_on_abort")
    victim_blocked = asyncio.Event()

    def first_seen(index: int) -> None:
        if index == victim:
            victim_blocked.set()

    tasks = [
        asyncio.ensure_future(_stream(client, url, "close_on_abort", controllers[i].signal, i, first_seen))
        for i in range(n)
    ]
    try:
        await asyncio.wait_for(victim_blocked.wait(), 60)
        in_flight = sum(not t.done() for t in tasks)
        tripped_at = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, controllers[victim].abort, "esc")
        try:
            await asyncio.wait_for(asyncio.shield(tasks[victim]), ONE_BOUND)
        except AbortError:
            pass
        victim_unwound = time.monotonic() - tripped_at
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    finally:
        for task in tasks:
            task.cancel()
        await client.aclose()
    assert isinstance(results[victim], AbortError), results[victim]
    others = [r for i, r in enumerate(results) if i != victim]
    bad = [r for r in others if isinstance(r, BaseException) or _text(r) != FIRST + THEN]
    assert not bad, f"{len(bad)} of {n - 1} other streams did not complete intact, e.g. {bad[:3]!r}"
    records = {r.json["messages"][0]["content"]: r for r in server.requests}
    # (The victim's record may say completed: on a busy loop its last bytes can already be in the
    # socket buffer, unread, when the abort lands; the client must still raise, and did.)
    assert sum(r.completed for r in records.values()) >= n - 1
    assert server.wait_for_disconnect(records[f"stream-{victim}"], 5.0) is not None
    fds_after = wait_for_fds(fds_before, 5.0)
    assert fds_after <= fds_before, f"{fds_after - fds_before} file descriptors left open"
    print(
        f"\nabort 1 of {n} ({in_flight} in flight): it unwound {victim_unwound * 1e3:.1f} ms after its trip; "
        f"{n - 1} others complete"
    )
    assert in_flight > n // 3, f"only {in_flight} other streams were in flight when the victim was aborted"
    assert victim_unwound < ONE_BOUND


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["close_on_abort", "instrument"])
def test_one_controller_aborts_many_streams_at_once(server: MockLLMServer, mode: str) -> None:
    asyncio.run(_abort_all(server, DEFAULT_N, mode))


@pytest.mark.timeout(120)
def test_aborting_one_of_many_streams_leaves_the_others_intact(server: MockLLMServer) -> None:
    asyncio.run(_abort_one(server, DEFAULT_N))


@pytest.mark.stress
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["close_on_abort", "instrument"])
def test_stress_one_controller_aborts_1000_streams(server: MockLLMServer, mode: str) -> None:
    asyncio.run(_abort_all(server, STRESS_N, mode))


@pytest.mark.stress
@pytest.mark.timeout(600)
def test_stress_aborting_one_of_1000_streams(server: MockLLMServer) -> None:
    asyncio.run(_abort_one(server, STRESS_N))
