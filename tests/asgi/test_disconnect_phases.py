"""AbortOnDisconnect on real servers: the client leaves in each phase, the signal trips at once.

Servers: uvicorn, hypercorn on asyncio, hypercorn on trio. Stacks: raw ASGI, Starlette, FastAPI,
and Starlette with a ``BaseHTTPMiddleware`` inside or outside ``AbortOnDisconnect``. Clients: a
raw socket (every phase, byte-exact) and httpx2 (through abortkit for the headers wait, a closed
stream mid-body). Each test asserts the trip came *after* the close (never a false alarm) and
within ``BOUND`` of it (the measured figures are about a millisecond: see
``python -m benchmarks --only asgi``), that its reason is ``ClientDisconnected``, that the
endpoint then stopped, and that a body the endpoint read is exactly the one sent.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx2
import pytest

from abortkit import AbortController, AbortError, abort_scope, instrument
from abortkit.asgi import ClientDisconnected
from abortkit.testing._asgi_server import SERVERS, running

from ._apps import STACKS, Record, Recorder, make_app
from ._clients import RawRequest

BOUND = 0.1
"""Seconds from the client's close to the trip: 100x the measured p50, so only a hang or
polling fails it; a timing failure is retried (another process can starve this one)."""

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true}'

_ids = itertools.count()


@dataclass
class Served:
    url: str
    recorder: Recorder
    server: str
    stack: str


@pytest.fixture(scope="module", params=[(s, k) for s in SERVERS for k in STACKS], ids=lambda p: f"{p[0]}-{p[1]}")
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    server, stack = request.param
    recorder = Recorder()
    with running(make_app(recorder, stack), server) as url:
        yield Served(url, recorder, server, stack)


def _new_id() -> str:
    return f"r{next(_ids)}"


def _retrying(check: Callable[[], None], attempts: int = 3) -> None:
    failures: list[str] = []
    for _ in range(attempts):
        try:
            check()
            return
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    pytest.fail(f"failed in all {attempts} attempts:\n" + "\n".join(failures))


def _assert_tripped(record: Record, closed_at: float) -> None:
    assert record.tripped.wait(5), "the signal never tripped"
    assert record.tripped_at is not None
    took = record.tripped_at - closed_at
    assert took >= 0, f"tripped {-took * 1e3:.2f} ms before the client closed"
    assert took < BOUND, f"tripped {took * 1e3:.1f} ms after the close"
    assert isinstance(record.reason, ClientDisconnected) and record.reason.via == "receive"
    assert record.finished.wait(5), "the endpoint did not stop after the abort"


PHASES = {
    # phase: (path, read the body?, bytes of the body sent before leaving)
    "before-body": ("/wait", True, len(BODY) // 2),
    "before-body-unread": ("/wait", False, len(BODY) // 2),
    "waiting": ("/wait", True, len(BODY)),
    "waiting-unread": ("/wait", False, len(BODY)),
    "mid-stream": ("/stream", True, len(BODY)),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_raw_client_leaves(served: Served, phase: str) -> None:
    path, read, sent = PHASES[phase]

    def check() -> None:
        id_ = _new_id()
        request = RawRequest(served.url, f"{path}?id={id_}&read={int(read)}", BODY, send_body=False)
        request.send(BODY[:sent])
        record = served.recorder.get(id_)
        if sent == len(BODY) or not read:
            assert record.reached.wait(5), "the endpoint never reached its waiting point"
        else:
            time.sleep(0.02)  # the endpoint is blocked reading the rest of the body
        if path == "/stream":
            request.read_until(b"first\n")
        closed_at = request.close()
        _assert_tripped(record, closed_at)
        if read and sent == len(BODY):
            assert record.body == BODY  # the middleware read ahead, and the endpoint still got it all
        elif read:
            assert record.body is None and record.body_error is not None  # told of the disconnect
            assert record.tripped_at is not None and record.finished_at is not None
            assert record.tripped_at <= record.finished_at
        else:
            assert record.body is None  # never read, and the disconnect was seen all the same

    _retrying(check)


@pytest.fixture(
    scope="module",
    params=[(s, k) for s in SERVERS for k in STACKS if k.startswith("base-")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def served_base(request: pytest.FixtureRequest) -> Iterator[Served]:
    server, stack = request.param
    recorder = Recorder()
    with running(make_app(recorder, stack), server) as url:
        yield Served(url, recorder, server, stack)


@pytest.mark.parametrize("phase", ["waiting", "mid-stream"])
def test_behind_a_base_middleware_that_read_the_body_first(served_base: Served, phase: str) -> None:
    """Starlette then serves the app its cached body and waits in the server's receive() for
    the disconnect on the middleware's behalf: the signal still trips at once."""
    served = served_base
    path = PHASES[phase][0]

    def check() -> None:
        id_ = _new_id()
        request = RawRequest(served.url, f"{path}?id={id_}&mwread=1", BODY)
        record = served.recorder.get(id_)
        assert record.reached.wait(5), "the endpoint never reached its waiting point"
        if path == "/stream":
            request.read_until(b"first\n")
        closed_at = request.close()
        _assert_tripped(record, closed_at)
        assert record.body == BODY

    _retrying(check)


def test_httpx2_client_aborted_while_waiting_for_headers(served: Served) -> None:
    """abortkit on the client side too: an instrumented httpx2 call aborted before any header."""

    def check() -> None:
        id_ = _new_id()
        controller = AbortController()
        outcome: list[BaseException] = []

        def call() -> None:
            with httpx2.Client(timeout=10) as http:
                client = instrument(http)
                try:
                    with abort_scope(controller.signal):
                        client.post(f"{served.url}/wait?id={id_}", content=BODY)
                except BaseException as exc:
                    outcome.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        try:
            record = served.recorder.get(id_)
            assert record.reached.wait(5)
            closed_at = time.monotonic()
            controller.abort("user pressed ESC")
        finally:
            thread.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], AbortError)
        _assert_tripped(record, closed_at)
        assert record.body == BODY

    _retrying(check)


def test_httpx2_stream_closed_mid_body(served: Served) -> None:
    def check() -> None:
        id_ = _new_id()
        with (
            httpx2.Client(timeout=10) as client,
            client.stream("POST", f"{served.url}/stream?id={id_}", content=BODY) as response,
        ):
            assert response.status_code == 200
            # Keep the iterator referenced: a generator dropped after a `break` is closed at
            # once (reference counting), and closing it closes the connection.
            chunks = response.iter_raw()
            received = b""
            while b"first\n" not in received:
                received += next(chunks)
            record = served.recorder.get(id_)
            assert record.reached.wait(5)
            closed_at = time.monotonic()
            response.close()
        _assert_tripped(record, closed_at)

    _retrying(check)


def test_completed_requests_never_trip(served: Served) -> None:
    """Responses sent whole, on one keep-alive connection, then the client leaves: no abort.

    uvicorn answers ``receive()`` with ``http.disconnect`` as soon as a response is complete,
    and behind a ``BaseHTTPMiddleware`` that disconnect wakes in the same step as the final
    send: neither may count as the client leaving.
    """
    ids = []
    # hypercorn's keep-alive is racy on its own, without AbortOnDisconnect: the next request on
    # a connection fails now and then ("Server disconnected without sending a response"; on
    # trio under Starlette it hangs). Measured with no middleware, 200 rounds of these 12
    # requests under Starlette: 6 rounds failed on asyncio; 60 rounds on trio: 15 hung. So on
    # hypercorn, one connection per request; uvicorn keeps one connection for all twelve.
    keepalive = served.server == "uvicorn"
    with httpx2.Client(timeout=10, limits=httpx2.Limits(max_keepalive_connections=None if keepalive else 0)) as client:
        for n in range(12):
            id_ = _new_id()
            ids.append(id_)
            query = f"id={id_}" + ("&stream=1" if n % 2 else "") + ("&read=0" if n % 3 == 0 else "")
            response = client.post(f"{served.url}/quick?{query}", content=BODY)
            assert response.status_code == 200 and response.content == b"abc"
            if served.stack.startswith("base-"):
                assert response.headers["x-passed"] == "1"
    records = [served.recorder.get(id_) for id_ in ids]
    assert all(r.finished.wait(5) for r in records)
    time.sleep(0.2)  # the idle connection is closed now: a wrong abort would have tripped by then
    assert [r.id for r in records if r.tripped.is_set()] == []
    assert all(r.body == BODY for r in records if r.id not in ids[::3])
