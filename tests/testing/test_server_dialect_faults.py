"""Every script of the mock server in the newer dialects, through the real SDKs: headers late,
bursts, thinking gaps, and each fault (reset, stall, malformed bytes, in-stream error, HTTP
error, truncation) surfacing as that SDK's own error, never as a quiet complete answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import botocore.eventstream
import botocore.exceptions
import httpx
import httpx2
import ollama
import openai
import pytest
import urllib3.exceptions
from google.genai import errors as genai_errors

from abortkit.testing import Gap, HTTPError, Malformed, MockLLMServer, Reset, Script, Stall, StreamError, Text, Truncate
from tests._helpers.sdk_http import stream_read_error, stream_read_timeout

from .sdk_clients import READERS, TIMEOUT, openai_client


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def server(request: pytest.FixtureRequest) -> Iterator[MockLLMServer]:
    with MockLLMServer(tls=request.param) as srv:
        yield srv
        assert srv.errors == []


dialects = pytest.mark.parametrize("dialect", sorted(READERS))

# What each SDK raises when the connection is reset mid-stream, or a read times out. openai:
# its APIConnectionError/APITimeoutError (3.x), or the transport's own (2.x): stream_read_error.
RESET_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    "openai-responses": stream_read_error("openai"),
    "gemini": (httpx2.TransportError,),  # ReadError; over TLS RemoteProtocolError (EOF)
    "ollama": (httpx.TransportError,),
    "bedrock": (urllib3.exceptions.ProtocolError, botocore.exceptions.ConnectionClosedError),
}
TIMEOUT_ERRORS: dict[str, tuple[type[BaseException], ...]] = {
    "openai-responses": stream_read_timeout("openai"),
    "gemini": (httpx2.ReadTimeout,),
    "ollama": (httpx.ReadTimeout,),
    "bedrock": (urllib3.exceptions.ReadTimeoutError, botocore.exceptions.ReadTimeoutError),
}
# Before the headers, inside the SDK's call: openai wraps the reset on every stack.
RESET_BEFORE_HEADERS_ERRORS = {**RESET_ERRORS, "openai-responses": (openai.APIConnectionError,)}
# Bytes that do not parse in each framing, and the error the SDK raises for them.
MALFORMED: dict[str, tuple[bytes, tuple[type[BaseException], ...]]] = {
    "openai-responses": (b"data: {not json\n\n", (ValueError,)),
    "gemini": (b"data: {not json\r\n\r\n", (genai_errors.UnknownApiResponseError,)),
    "ollama": (b"{not json\n", (ValueError,)),
    "bedrock": (b"\x00\x00\x00\x20not an event-stream message", (botocore.eventstream.ChecksumMismatch,)),
}


@dialects
def test_headers_after_a_delay(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script.headers_after(0.3, "late but whole"))
    assert READERS[dialect](server).text == "late but whole"
    (record,) = server.requests
    assert record.responded_headers_at is not None
    assert record.responded_headers_at - record.received_at >= 0.3


@dialects
def test_a_burst_arrives_whole_and_in_order(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script(steps=[Text(f"{i:04d} ") for i in range(500)]))
    seen = READERS[dialect](server)
    assert seen.text == "".join(f"{i:04d} " for i in range(500))
    assert seen.finish is not None


@dialects
def test_thinking_gap_with_keepalives_is_one_answer(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script.thinking_gap(first="Hello", gap=0.3, then=" world", keepalive_every=0.05))
    started = time.monotonic()
    assert READERS[dialect](server).text == "Hello world"
    assert time.monotonic() - started >= 0.3


@dialects
def test_reset_mid_stream_is_a_transport_error(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script(steps=(Text("a"), Reset())))
    with pytest.raises(RESET_ERRORS[dialect]):
        READERS[dialect](server)


@dialects
def test_reset_before_the_headers_is_a_transport_error(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script(steps=(Reset(),)))
    with pytest.raises(RESET_BEFORE_HEADERS_ERRORS[dialect]):
        READERS[dialect](server)
    assert server.requests[0].responded_headers_at is None


@dialects
def test_a_stalled_stream_times_out_in_the_sdk(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script(steps=(Text("a"), Stall())))
    started = time.monotonic()
    with pytest.raises(TIMEOUT_ERRORS[dialect]):
        READERS[dialect](server)
    assert time.monotonic() - started >= TIMEOUT * 0.9


@dialects
def test_malformed_bytes_fail_to_parse(server: MockLLMServer, dialect: str) -> None:
    raw, errors = MALFORMED[dialect]
    server.enqueue(Script(steps=(Text("a"), Malformed(raw))))
    with pytest.raises(errors):
        READERS[dialect](server)


def test_responses_in_stream_error_is_an_error_event(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("server_error", "model crashed"))))
    events = list(openai_client(server).responses.create(model="m", input="hi", stream=True))
    error = events[-1]
    assert error.type == "error"
    assert (error.code, error.message) == ("server_error", "model crashed")
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_gemini_in_stream_error_raises_server_error(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("overloaded_error", "model crashed"))))
    with pytest.raises(genai_errors.ServerError, match="model crashed") as info:
        READERS["gemini"](server)
    assert info.value.code == 503 and info.value.status == "UNAVAILABLE"


def test_ollama_in_stream_error_raises_response_error(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("overloaded_error", "model crashed"))))
    with pytest.raises(ollama.ResponseError, match="model crashed"):
        READERS["ollama"](server)


def test_bedrock_in_stream_error_raises_event_stream_error(server: MockLLMServer) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("overloaded_error", "model crashed"))))
    with pytest.raises(botocore.exceptions.EventStreamError, match="model crashed") as info:
        READERS["bedrock"](server)
    assert info.value.response["Error"]["Code"] == "serviceUnavailableException"


@dialects
def test_in_stream_error_without_streaming_is_a_500(server: MockLLMServer, dialect: str) -> None:
    server.enqueue(Script(steps=(Text("Hel"), StreamError("overloaded_error", "model crashed"))))
    with pytest.raises(Exception, match="model crashed") as info:
        READERS[dialect](server, stream=False)
    assert _status_of(info.value) == 500


@dialects
@pytest.mark.parametrize("status", [429, 500])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "complete"])
def test_http_errors_are_the_sdks_status_errors(server: MockLLMServer, dialect: str, status: int, stream: bool) -> None:
    server.enqueue(HTTPError(status, message="mock refusal"))
    with pytest.raises(Exception, match="mock refusal") as info:
        READERS[dialect](server, stream=stream)
    assert _status_of(info.value) == status
    assert server.request_count == 1


def _status_of(error: BaseException) -> int:
    """The HTTP status each SDK's error class reports."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code
    if isinstance(error, genai_errors.APIError):
        return int(error.code)
    if isinstance(error, ollama.ResponseError):
        return error.status_code
    if isinstance(error, botocore.exceptions.ClientError):
        return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
    raise AssertionError(f"not an SDK status error: {error!r}")


@dialects
def test_truncated_stream_has_no_finish(server: MockLLMServer, dialect: str) -> None:
    """The "upstream gave up" case: the body ends in good order, without the closing events."""
    server.enqueue(Script(steps=(Text("Hel"), Truncate())))
    seen = READERS[dialect](server)
    assert seen.text == "Hel"
    assert seen.finish is None


def test_silent_gap_then_stall_before_any_body(server: MockLLMServer) -> None:
    """``Gap(0)`` first sends the headers: the SDK call returns, then the read times out."""
    server.enqueue(Script(steps=(Gap(0), Stall())))
    with pytest.raises(TIMEOUT_ERRORS["ollama"]):
        READERS["ollama"](server)
    assert server.requests[0].responded_headers_at is not None
