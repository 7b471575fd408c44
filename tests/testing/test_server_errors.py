"""Failure scripts produce what the real SDKs really do with them (asserted as observed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from abortkit.testing import Gap, HTTPError, Malformed, MockLLMServer, Reset, Script, Text
from tests._helpers.sdk_http import sdk_http, sdk_http_client, stream_read_error, transport_error

MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
        assert srv.errors == []


def _oai(server: MockLLMServer, retries: int = 0) -> openai.OpenAI:
    http = sdk_http_client("openai", server)
    return openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=retries, http_client=http)


def _ant(server: MockLLMServer, retries: int = 0) -> anthropic.Anthropic:
    http = sdk_http_client("anthropic", server)
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="x", max_retries=retries, http_client=http)


def _transport_errors(sdk: str) -> tuple[type[BaseException], ...]:
    """What a connection reset surfaces as in the HTTP library ``sdk`` runs on."""
    http = sdk_http(sdk)
    return (http.ReadError, http.RemoteProtocolError)


def _openai_stream_text(client: openai.OpenAI) -> str:
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def _anthropic_stream_text(client: anthropic.Anthropic) -> str:
    with client.messages.stream(model="m", max_tokens=8, messages=MESSAGES) as stream:
        return "".join(stream.text_stream)


# -- HTTP error statuses ----------------------------------------------------------------------


def test_rate_limit_and_server_errors_openai(server: MockLLMServer) -> None:
    server.enqueue(HTTPError(429, message="slow down"), HTTPError(500), HTTPError(503))
    with _oai(server) as client:
        with pytest.raises(openai.RateLimitError) as rate:
            _openai_stream_text(client)
        assert rate.value.status_code == 429
        # The SDK's own wording: openai 3.x quotes the error's message, 2.x the whole body.
        assert rate.value.message.startswith("Error code: 429 - ") and "slow down" in rate.value.message
        assert rate.value.body == {"message": "slow down", "type": "rate_limit_exceeded", "param": None, "code": None}
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError) as unavailable:
            _openai_stream_text(client)
        assert unavailable.value.status_code == 503
    assert server.request_count == 3


def test_rate_limit_overloaded_and_server_errors_anthropic(server: MockLLMServer) -> None:
    server.enqueue(HTTPError(429), HTTPError(529), HTTPError(500))
    with _ant(server) as client:
        with pytest.raises(anthropic.RateLimitError) as rate:
            _anthropic_stream_text(client)
        assert rate.value.body == {"type": "error", "error": {"type": "rate_limit_error", "message": "mock error"}}
        assert rate.value.response.headers["request-id"].startswith("req_mock")
        with pytest.raises(anthropic.OverloadedError):
            _anthropic_stream_text(client)
        with pytest.raises(anthropic.InternalServerError):
            client.messages.create(model="m", max_tokens=8, messages=MESSAGES)


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_retry_after_is_honoured(server: MockLLMServer, sdk: str) -> None:
    server.enqueue(HTTPError(429, retry_after=0.3), Script.simple("after the wait"))
    if sdk == "openai":
        with _oai(server, retries=1) as oclient:
            assert _openai_stream_text(oclient) == "after the wait"
    else:
        with _ant(server, retries=1) as aclient:
            assert _anthropic_stream_text(aclient) == "after the wait"
    first, second = server.requests
    assert first.responded_headers_at is not None
    waited = second.received_at - first.responded_headers_at
    assert 0.29 <= waited < 0.6, waited
    assert second.headers.get("x-stainless-retry-count") == "1"


def test_should_retry_false_stops_sdk_retries(server: MockLLMServer) -> None:
    server.enqueue(HTTPError(500, should_retry=False))
    with _oai(server, retries=2) as client, pytest.raises(openai.InternalServerError):
        _openai_stream_text(client)
    assert server.request_count == 1


def test_custom_error_body_and_headers(server: MockLLMServer) -> None:
    server.enqueue(HTTPError(400, body={"error": {"message": "bad model"}}, headers={"x-custom": "1"}))
    with _oai(server) as client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.response.headers["x-custom"] == "1"
    assert "bad model" in info.value.message


# -- connection resets ------------------------------------------------------------------------


def test_reset_mid_stream(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("Hello"), Reset())), Script(steps=(Text("Hello"), Reset())))
    # Observed: plain TCP surfaces the RST as ReadError (ECONNRESET); under TLS the RST may read
    # as an EOF first, so httpcore reports an incomplete chunked body instead. openai 3.x and
    # anthropic >= 2.17 wrap it in their APIConnectionError; openai 2.x and anthropic 0.x let
    # the transport's own exception escape (stream_read_error asks the installed SDK which).
    with _oai(server) as oclient, pytest.raises(stream_read_error("openai")) as info:
        _openai_stream_text(oclient)
    assert isinstance(transport_error(info.value, "openai"), _transport_errors("openai"))
    with _ant(server) as aclient, pytest.raises(stream_read_error("anthropic")) as caught:
        _anthropic_stream_text(aclient)
    assert isinstance(transport_error(caught.value, "anthropic"), _transport_errors("anthropic"))
    for record in server.requests:
        assert record.responded_headers_at is not None
        assert record.completed is False
        assert record.disconnected_at is None  # the server hung up, not the client


def test_reset_before_headers_is_a_connection_error(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Reset(),)), Script(steps=(Reset(),)))
    with _oai(server) as oclient, pytest.raises(openai.APIConnectionError):
        _openai_stream_text(oclient)
    with _ant(server) as aclient, pytest.raises(anthropic.APIConnectionError):
        aclient.messages.create(model="m", max_tokens=8, messages=MESSAGES)
    assert [r.responded_headers_at for r in server.requests] == [None, None]


def test_reset_before_headers_is_retried_by_the_sdk(server: MockLLMServer) -> None:
    """What abortkit must prevent after an abort: the SDK retries transport errors on its own."""
    server.enqueue(Script(steps=(Reset(),)), Script.simple("second try"))
    with _oai(server, retries=1) as client:
        assert _openai_stream_text(client) == "second try"
    assert server.request_count == 2


def test_reset_right_after_headers(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Gap(0), Reset())))
    with _oai(server) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(stream_read_error("openai")) as info:
            list(stream)
    assert isinstance(transport_error(info.value, "openai"), _transport_errors("openai"))


# -- malformed bodies -------------------------------------------------------------------------


def test_malformed_sse_json(server: MockLLMServer) -> None:
    bad = Malformed(b"data: {not json\n\n")
    named_bad = Malformed(b"event: content_block_delta\ndata: {not json\n\n")
    server.enqueue(Script(steps=(Text("a"), bad)), Script(steps=(Text("a"), bad)), Script(steps=(Text("a"), named_bad)))
    with _oai(server) as oclient, pytest.raises(json.JSONDecodeError):
        _openai_stream_text(oclient)
    with _ant(server) as aclient:
        # Observed: the anthropic SDK skips SSE events without an `event:` name, bad data or not.
        assert _anthropic_stream_text(aclient) == "a"
        with pytest.raises(json.JSONDecodeError):
            _anthropic_stream_text(aclient)


def test_malformed_utf8_and_non_json_bodies(server: MockLLMServer) -> None:
    server.enqueue(
        Script(steps=(Text("a"), Malformed(b"data: \xff\xfe\n\n"))),
        Script(steps=(Malformed(b"<html>502 Bad Gateway</html>"),)),
    )
    with _oai(server) as client:
        with pytest.raises(UnicodeDecodeError):
            _openai_stream_text(client)
        with pytest.raises(json.JSONDecodeError):
            client.chat.completions.create(model="m", messages=MESSAGES)


def test_unknown_path_is_404_and_consumes_no_script(server: MockLLMServer) -> None:
    server.enqueue(Script.simple("kept"))
    with sdk_http_client("openai", server) as http:
        response = http.get(server.base_url + "/v1/models")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
        response = http.post(server.base_url + "/v1/embeddings", json={})
        assert response.status_code == 404
    assert server.pending_scripts == 1
    assert [r.dialect for r in server.requests] == [None, None]
