"""BufferingProxy: headers held until the first body byte, full buffering, disconnects relayed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from abortkit.testing import BufferingProxy, Gap, MockLLMServer, ProxiedRequest, ProxyMode, Reset, Script, Text
from tests._helpers.sdk_http import sdk_http, sdk_http_client, stream_read_error, stream_read_timeout, transport_error

MESSAGES: Any = [{"role": "user", "content": "hi"}]
TOLERANCE = 0.05
# Client-side times include connecting and TLS handshakes on both sides of the proxy, so they
# are bounded from below exactly (the client really waited) and from above loosely; the
# proxy's own records give the precise numbers.
EARLY = 0.01
LATE = 0.15


@pytest.fixture(scope="module", autouse=True)
def _warm_up_sdk() -> None:
    """Pay the SDK's one-time costs (lazy imports, model classes) outside the timed calls."""
    with MockLLMServer() as srv, openai.OpenAI(base_url=srv.openai_base_url, api_key="x") as client:
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
        assert srv.errors == []


def _retrying(server: MockLLMServer, check: Callable[[], None], attempts: int = 3) -> None:
    """Run a timing ``check`` until it passes, at most ``attempts`` times.

    Another process can starve this one for tens of milliseconds; a real bug (headers not held,
    a disconnect not relayed) is systematic and fails every attempt, a burst of load does not.
    """
    failures: list[str] = []
    for _ in range(attempts):
        server.clear()
        try:
            check()
            return
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    pytest.fail(f"timing failed in all {attempts} attempts:\n" + "\n".join(failures))


def _proxy(server: MockLLMServer, mode: ProxyMode) -> BufferingProxy:
    """A proxy in front of ``server``, speaking TLS on both sides when the server does."""
    return BufferingProxy(
        server.base_url,
        mode=mode,
        tls=server.tls,
        upstream_ssl_context=server.ssl_context() if server.tls else None,
    )


def _verify(proxy: BufferingProxy) -> Any:
    return proxy.ssl_context() if proxy.tls else True


def _oai(proxy: BufferingProxy, **kwargs: Any) -> openai.OpenAI:
    http = sdk_http_client("openai", proxy)
    return openai.OpenAI(base_url=proxy.openai_base_url, api_key="x", max_retries=0, http_client=http, **kwargs)


def _stream_timeline(client: openai.OpenAI) -> tuple[float, list[tuple[str, float]]]:
    """Seconds until the SDK call returned (headers), and the arrival time of each text delta."""
    started = time.monotonic()
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    headers_at = time.monotonic() - started
    deltas = [
        (c.choices[0].delta.content, time.monotonic() - started)
        for c in stream
        if c.choices and c.choices[0].delta.content
    ]
    return headers_at, deltas


SILENT_THEN_TALK = Script(steps=(Gap(0.3), Text("a"), Gap(0.2), Text("b")))


def test_passthrough_relays_headers_and_chunks_as_they_come(server: MockLLMServer) -> None:
    def check() -> None:
        server.enqueue(SILENT_THEN_TALK)
        with _proxy(server, "passthrough") as proxy, _oai(proxy) as client:
            headers_at, deltas = _stream_timeline(client)
        (a, a_at), (b, b_at) = deltas
        assert (a, b) == ("a", "b")
        assert headers_at < a_at - 0.2  # headers came long before the first byte
        assert 0.3 - EARLY <= a_at < 0.3 + LATE
        assert b_at - a_at == pytest.approx(0.2, abs=TOLERANCE)

    _retrying(server, check)


def test_hold_headers_waits_for_the_first_body_byte(server: MockLLMServer) -> None:
    def check() -> None:
        server.enqueue(SILENT_THEN_TALK)
        with _proxy(server, "hold_headers") as proxy, _oai(proxy) as client:
            headers_at, deltas = _stream_timeline(client)
            (record,) = proxy.requests
        assert 0.3 - EARLY <= headers_at < 0.3 + LATE  # the client waited for headers
        assert [d for d, _ in deltas] == ["a", "b"]
        assert deltas[1][1] - deltas[0][1] == pytest.approx(0.2, abs=TOLERANCE)  # then it streams
        assert isinstance(record, ProxiedRequest) and record.completed
        assert record.upstream_headers_at is not None and record.responded_headers_at is not None
        assert record.upstream_first_body_at is not None
        assert record.upstream_headers_at - record.received_at < TOLERANCE  # upstream answered at once
        assert record.responded_headers_at - record.upstream_headers_at == pytest.approx(0.3, abs=TOLERANCE)

    _retrying(server, check)


def test_buffer_all_holds_everything_until_the_end(server: MockLLMServer) -> None:
    def check() -> None:
        server.enqueue(SILENT_THEN_TALK)
        with _proxy(server, "buffer_all") as proxy, httpx2.Client(verify=_verify(proxy)) as http:
            started = time.monotonic()
            with http.stream("POST", proxy.openai_base_url + "/chat/completions", json={"stream": True}) as raw:
                headers_at = time.monotonic() - started
                assert raw.headers["content-length"].isdigit()
                assert "transfer-encoding" not in raw.headers
                assert raw.read().endswith(b"data: [DONE]\n\n")
            (record,) = proxy.requests
        assert 0.5 - EARLY <= headers_at < 0.5 + LATE
        assert record.responded_headers_at is not None and record.upstream_headers_at is not None
        assert record.responded_headers_at - record.upstream_headers_at == pytest.approx(0.5, abs=TOLERANCE)
        server.enqueue(SILENT_THEN_TALK)
        with _proxy(server, "buffer_all") as proxy, _oai(proxy) as client:
            headers_at, deltas = _stream_timeline(client)
        assert 0.5 - EARLY <= headers_at < 0.5 + LATE
        assert [d for d, _ in deltas] == ["a", "b"]
        assert deltas[1][1] - deltas[0][1] < TOLERANCE  # arrived together

    _retrying(server, check)


@pytest.mark.parametrize("mode", ["hold_headers", "buffer_all", "passthrough"])
def test_client_disconnect_reaches_the_server(server: MockLLMServer, mode: ProxyMode) -> None:
    """The client gives up while the proxy holds everything: with the default
    ``client_abort="propagate"`` the server sees it within ms (``test_proxy_client_abort.py``
    has the other policies)."""

    def check() -> None:
        server.enqueue(Script(steps=(Gap(3.0), Text("late"))))
        with _proxy(server, mode) as proxy, _oai(proxy, timeout=0.3) as client:
            # Held headers time out in the SDK's call: APITimeoutError. Passed through, they come
            # at once and the body's read times out: APITimeoutError too, or (openai 2.x) the
            # transport's ReadTimeout, which that SDK lets escape from a stream.
            expected = (openai.APITimeoutError,) if mode != "passthrough" else stream_read_timeout("openai")
            with pytest.raises(expected):
                list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
            gave_up = time.monotonic()
            (upstream_record,) = server.requests
            seen = server.wait_for_disconnect(upstream_record, timeout=2.0)
            assert seen is not None and abs(seen - gave_up) < TOLERANCE
            (proxy_record,) = proxy.requests
            proxy_seen = proxy.wait_for_disconnect(proxy_record, timeout=2.0)
            assert proxy_seen is not None and proxy_seen <= seen

    _retrying(server, check)


def test_client_close_mid_stream_reaches_the_server(server: MockLLMServer) -> None:
    def check() -> None:
        server.enqueue(Script.thinking_gap(gap=3.0))
        with _proxy(server, "hold_headers") as proxy, _oai(proxy) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            closed_at = time.monotonic()
            stream.close()
            seen = server.wait_for_disconnect(server.requests[0], timeout=2.0)
        assert seen is not None and 0 <= seen - closed_at < TOLERANCE

    _retrying(server, check)


def test_upstream_reset_resets_the_client(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("a"), Reset())))
    with _proxy(server, "passthrough") as proxy, _oai(proxy) as client:
        with pytest.raises(stream_read_error("openai")) as info:
            list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        http = sdk_http("openai")
        assert isinstance(transport_error(info.value, "openai"), (http.ReadError, http.RemoteProtocolError))
        (record,) = proxy.requests
        assert record.completed is False


def test_unreachable_upstream_is_502() -> None:
    with MockLLMServer() as gone:
        url = gone.base_url
    with BufferingProxy(url, mode="hold_headers") as proxy, httpx2.Client() as http:
        response = http.post(proxy.openai_base_url + "/chat/completions", json={})
    assert response.status_code == 502


def test_keep_alive_both_sides_and_anthropic_through_proxy(server: MockLLMServer) -> None:
    with _proxy(server, "hold_headers") as proxy:
        http = sdk_http_client("anthropic", proxy)
        with anthropic.Anthropic(
            base_url=proxy.anthropic_base_url, api_key="x", max_retries=0, http_client=http
        ) as client:
            for _ in range(3):
                with client.messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream:
                    assert stream.get_final_message().content[0].type == "text"
            client.messages.create(model="m", max_tokens=8, messages=MESSAGES)
        assert len({r.connection_id for r in proxy.requests}) == 1
    assert len({r.connection_id for r in server.requests}) == 1
    assert [r.path for r in server.requests] == ["/v1/messages"] * 4


def test_upstream_path_prefix_is_kept() -> None:
    with MockLLMServer() as server, BufferingProxy(server.base_url + "/minimax", mode="passthrough") as proxy:
        with anthropic.Anthropic(base_url=proxy.base_url, api_key="x", max_retries=0) as client:
            client.messages.create(model="m", max_tokens=8, messages=MESSAGES)
        assert server.requests[0].path == "/minimax/v1/messages"
        assert proxy.requests[0].path == "/v1/messages"


def test_proxy_stop_leaves_nothing_behind() -> None:
    with MockLLMServer() as server:
        with BufferingProxy(server.base_url):  # warm-up
            pass
        threads, fds = threading.active_count(), set(os.listdir("/proc/self/fd"))
        server.enqueue(Script(steps=(Gap(5.0),)))
        proxy = BufferingProxy(server.base_url, mode="hold_headers").start()
        with httpx2.Client(timeout=10) as http:
            failures: list[BaseException] = []

            def send() -> None:
                try:
                    http.post(proxy.openai_base_url + "/chat/completions", json={"stream": True})
                except httpx2.HTTPError as exc:
                    failures.append(exc)

            sender = threading.Thread(target=send)
            sender.start()
            assert server.wait_for_requests(1, 2.0)
            started = time.monotonic()
            proxy.stop()
            assert time.monotonic() - started < 1.0
            sender.join(2.0)
            assert not sender.is_alive()
            assert len(failures) == 1  # the held request failed when the proxy stopped
        # The proxy's upstream connection was closed by stop(): the server saw the client leave.
        assert server.wait_for_disconnect(server.requests[0], 2.0) is not None
        # The server's own connection thread exits just after recording that; give it a moment.
        deadline = time.monotonic() + 2.0
        while threading.active_count() > threads and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threading.active_count() == threads
        assert set(os.listdir("/proc/self/fd")) == fds


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        BufferingProxy("http://127.0.0.1:1", mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BufferingProxy("ftp://127.0.0.1:1")
