"""Faults, with and without an abort racing them, through the three providers, sync and async.

The mock server resets the connection (before the headers, or mid-stream), stalls, sends bytes
that are not SSE or not JSON, answers 429/500, or reports an error inside a 200 stream. For each:

* no abort (a signal is passed but never trips): the caller gets the SDK's own exception, of
  exactly the type the SDK raises for that fault without abortkit (never ``AbortError``);
* an abort that lands before the fault (in a gap before it, or while waiting for the headers):
  ``AbortError`` (carrying the partial answer), promptly, and the server sees the client leave;
* an abort racing the fault (tripped at random times around it): either outcome is right, but
  ``AbortError`` only if the signal tripped before the call ended, and the SDK's error only if
  the abort had not already completed before the fault happened; both outcomes must occur.

Every test has a timeout; the clients have a 0.6 s read timeout so that even a broken abort
cannot hang a test for long (a stall without an abort ends with the SDK's timeout error).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from abortkit_providers import ChatResult, registry
from provider_helpers import MESSAGES

from abortkit import AbortController, AbortError
from abortkit.testing import HTTPError, MockLLMServer, Script
from abortkit.testing._script import Gap, Malformed, Reset, Stall, StreamError, Text, Truncate

READ_TIMEOUT = 0.6
UNWIND_BOUND = 1.0
KINDS = ["openai-compatible", "anthropic", "minimax"]
MODES = ["sync", "async"]

# -- the faults and what each SDK raises for them ---------------------------------------------------

_OPENAI_EXPECTED: dict[str, type[BaseException] | None] = {
    "reset-before-headers": openai.APIConnectionError,
    "reset-mid-stream": openai.APIConnectionError,
    "stall": openai.APITimeoutError,
    "malformed-bytes": UnicodeDecodeError,
    "malformed-json": json.JSONDecodeError,
    "http-429": openai.RateLimitError,
    "http-500": openai.InternalServerError,
    "stream-error": openai.APIError,
}
# Before 2.17 the anthropic SDK let httpx2's errors through when they happened while iterating a
# stream; since then it wraps them as it does the request's (``_streaming.iter_response_bytes``).
# It skips SSE events without an event name (so a bad JSON line in an unnamed event is ignored).
ANTHROPIC_WRAPS_STREAM_ERRORS = hasattr(anthropic._streaming, "iter_response_bytes")
_ANTHROPIC_EXPECTED: dict[str, type[BaseException] | None] = {
    "reset-before-headers": anthropic.APIConnectionError,
    "reset-mid-stream": anthropic.APIConnectionError if ANTHROPIC_WRAPS_STREAM_ERRORS else httpx2.ReadError,
    "stall": anthropic.APITimeoutError if ANTHROPIC_WRAPS_STREAM_ERRORS else httpx2.ReadTimeout,
    "malformed-bytes": UnicodeDecodeError,
    "malformed-json": None,  # the answer completes
    "http-429": anthropic.RateLimitError,
    "http-500": anthropic.InternalServerError,
    "stream-error": anthropic.APIStatusError,
}
EXPECTED = {"openai-compatible": _OPENAI_EXPECTED, "anthropic": _ANTHROPIC_EXPECTED, "minimax": _ANTHROPIC_EXPECTED}


def fault_script(name: str, lead: float) -> Script | HTTPError:
    """The fault ``name``, happening ``lead`` seconds after the first chunk (or, for the faults
    that come instead of the headers, after the request arrived)."""
    if name == "reset-before-headers":
        return Script(steps=(Reset(),), head_delay=lead)
    if name == "reset-mid-stream":
        return Script(steps=(Text("Hel"), Gap(lead), Reset()))
    if name == "stall":
        return Script(steps=(Text("Hel"), Stall()))
    if name == "malformed-bytes":
        return Script(steps=(Text("Hel"), Gap(lead), Malformed(b"\xff\xfe not utf-8\n\n"), Text("lo")))
    if name == "malformed-json":
        return Script(steps=(Text("Hel"), Gap(lead), Malformed(b"data: {not json\n\n"), Text("lo")))
    if name == "http-429":
        return HTTPError(429, head_delay=lead)
    if name == "http-500":
        return HTTPError(500, head_delay=lead)
    if name == "stream-error":
        return Script(steps=(Text("Hel"), Gap(lead), StreamError()))
    raise ValueError(name)


FAULTS = list(_OPENAI_EXPECTED)


def _fault_time(record: Any) -> float | None:
    """When the server made the fault happen (None: never, e.g. a stall)."""
    at = record.responded_headers_at if isinstance(record.script, HTTPError) else record.finished_at
    return None if at is None else float(at)


# -- providers with real SDK clients ------------------------------------------------------------------


def make_provider(
    kind: str, server: MockLLMServer, asynchronous: bool, *, own_clients: bool = True, **options: Any
) -> Any:
    """A provider on the mock server. ``own_clients``: pass SDK clients built here (0.6 s read
    timeout, no retries); otherwise let the provider build them from ``options``."""
    spec = registry.get(kind)
    url = spec.base_url_of(server)
    if own_clients:
        timeout = httpx2.Timeout(5.0, read=READ_TIMEOUT)
        sdk: Any
        if kind == "openai-compatible":
            sdk = (openai.AsyncOpenAI if asynchronous else openai.OpenAI)(
                base_url=server.openai_base_url, api_key="sk", max_retries=0, timeout=timeout
            )
        else:
            sdk = (anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic)(
                base_url=url, api_key="sk", max_retries=0, timeout=timeout
            )
        options["async_client" if asynchronous else "client"] = sdk
    return spec.create(base_url=url, api_key="sk", model="m", asynchronous=asynchronous, **options)


@dataclass
class Call:
    fault: str
    outcome: BaseException | ChatResult | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    trip: Any = None
    record: Any = None
    notes: list[str] = field(default_factory=list)


class Runner:
    """Runs provider calls sync or async (one event loop for the whole test), with an optional
    trip from a real other thread at ``delay`` seconds after the server received the request."""

    def __init__(self, server: MockLLMServer, asynchronous: bool) -> None:
        self.server = server
        self.asynchronous = asynchronous
        self.loop = asyncio.new_event_loop() if asynchronous else None

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()

    def call(
        self, provider: Any, fault: str, script: Script | HTTPError, delay: float | None, *, after_chunk: bool = False
    ) -> Call:
        """``delay`` counts from the request's arrival at the server, or with ``after_chunk`` from
        the moment the caller received the first text chunk (``on_text_chunk``)."""
        self.server.enqueue(script)
        first_chunk = threading.Event()
        before = self.server.request_count
        controller = AbortController()
        result = Call(fault)
        trip: dict[str, float] = {}
        stop = threading.Event()

        def tripper() -> None:
            deadline = time.monotonic() + 5
            while self.server.request_count <= before and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.0005)
            if after_chunk:
                first_chunk.wait(5)
            if delay is None or stop.is_set():
                return
            time.sleep(delay)
            trip["at"] = time.monotonic()
            controller.abort("esc")
            trip["returned"] = time.monotonic()

        thread = threading.Thread(target=tripper, daemon=True)
        thread.start()
        result.started_at = time.monotonic()
        try:
            if self.loop is not None:
                result.outcome = self.loop.run_until_complete(
                    asyncio.wait_for(
                        provider.achat_stream_response(
                            MESSAGES, abort_signal=controller.signal, on_text_chunk=lambda _t: first_chunk.set()
                        ),
                        20,
                    )
                )
            else:
                result.outcome = provider.chat_stream_response(
                    MESSAGES, abort_signal=controller.signal, on_text_chunk=lambda _t: first_chunk.set()
                )
        except BaseException as exc:
            result.outcome = exc
        result.ended_at = time.monotonic()
        if delay is None:
            stop.set()
        thread.join(10)
        result.trip = trip or None
        requests = self.server.requests
        result.record = requests[before] if len(requests) > before else None
        if isinstance(result.outcome, AbortError) and not controller.signal.aborted:
            result.notes.append("AbortError although the signal never tripped")
        return result


def _describe(outcome: Any) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__module__}.{type(outcome).__qualname__}({str(outcome)[:60]!r})"
    return f"result {getattr(outcome, 'text', outcome)!r}"


@pytest.fixture(scope="module")
def server() -> Any:
    with MockLLMServer() as srv:
        yield srv


# -- 1. no abort: the SDK's own error, unchanged ------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_faults_without_an_abort_raise_the_sdks_own_error(server: MockLLMServer, kind: str, mode: str) -> None:
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async")
    problems: list[str] = []
    try:
        for fault in FAULTS:
            call = runner.call(provider, fault, fault_script(fault, 0.02), delay=None)
            expected = EXPECTED[kind][fault]
            got = call.outcome
            ok = (isinstance(got, ChatResult) and got.text == "Hello") if expected is None else type(got) is expected
            if not ok or call.notes:
                problems.append(
                    f"{fault}: expected {expected.__name__ if expected else 'a result'}, got "
                    f"{_describe(got)} {call.notes}"
                )
            if call.ended_at - call.started_at > READ_TIMEOUT + UNWIND_BOUND + 1.0:
                problems.append(f"{fault}: took {call.ended_at - call.started_at:.2f} s")
    finally:
        runner.close()
    assert not problems, "\n".join(problems)


# -- 2. an abort before the fault: AbortError, promptly ------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_abort_before_the_fault_raises_abort_error_promptly(server: MockLLMServer, kind: str, mode: str) -> None:
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async")
    problems: list[str] = []
    try:
        for fault in FAULTS:
            # The fault comes 0.4 s after the first chunk (or the request); the abort 0.05 s after
            # the caller received that chunk (or the request arrived).
            script = fault_script(fault, 0.4)
            mid_stream = isinstance(script, Script) and fault != "reset-before-headers"
            call = runner.call(provider, fault, script, delay=0.05, after_chunk=mid_stream)
            got = call.outcome
            if not isinstance(got, AbortError):
                problems.append(f"{fault}: expected AbortError, got {_describe(got)}")
                continue
            assert call.trip is not None
            unwind = call.ended_at - call.trip["at"]
            if unwind > UNWIND_BOUND:
                problems.append(f"{fault}: unwound {unwind:.2f} s after the trip")
            if got.reason != "esc" or not isinstance(got.partial, ChatResult):
                problems.append(f"{fault}: reason {got.reason!r}, partial {got.partial!r}")
            elif mid_stream and got.partial.text != "Hel":
                problems.append(f"{fault}: partial text {got.partial.text!r}, expected the chunk before the abort")
            if call.record is not None and server.wait_for_disconnect(call.record, 2.0) is None:
                problems.append(f"{fault}: the server never saw the client leave")
            fault_at = _fault_time(call.record) if call.record is not None else None
            if fault_at is not None and fault_at < call.trip["at"]:
                problems.append(f"{fault}: the fault happened before the trip; the test's timing is off")
    finally:
        runner.close()
    assert not problems, "\n".join(problems)


# -- 3. an abort racing the fault ------------------------------------------------------------------------

RACE_LEAD = 0.03  # the fault comes 30 ms after the first chunk / the request
RACE_TRIALS = 2


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_abort_racing_the_fault_gives_one_right_answer(server: MockLLMServer, kind: str, mode: str) -> None:
    rng = random.Random(f"{kind}-{mode}")
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async")
    problems: list[str] = []
    outcomes = {"abort": 0, "fault": 0}
    try:
        for fault in FAULTS:
            if fault == "stall":
                continue  # nothing to race: a stall ends only by the abort (tested above)
            expected = EXPECTED[kind][fault]
            for _ in range(RACE_TRIALS):
                call = runner.call(
                    provider, fault, fault_script(fault, RACE_LEAD), delay=rng.uniform(0.0, 2.5 * RACE_LEAD)
                )
                got = call.outcome
                fault_at = _fault_time(call.record) if call.record is not None else None
                trip = call.trip
                if isinstance(got, AbortError):
                    outcomes["abort"] += 1
                    if trip is None or trip["at"] > call.ended_at:
                        problems.append(f"{fault}: AbortError but the trip came after the call ended")
                    elif call.ended_at - trip["at"] > UNWIND_BOUND:
                        problems.append(f"{fault}: unwound {call.ended_at - trip['at']:.2f} s after the trip")
                elif (type(got) is expected) if expected is not None else isinstance(got, ChatResult):
                    outcomes["fault"] += 1
                    if trip is not None and fault_at is not None and trip["returned"] < fault_at - 0.005:
                        problems.append(
                            f"{fault}: the abort completed {(fault_at - trip['returned']) * 1e3:.1f} ms before the "
                            f"fault, yet the caller got {_describe(got)}"
                        )
                else:
                    problems.append(
                        f"{fault}: got {_describe(got)} (expected AbortError or "
                        f"{expected.__name__ if expected else 'a result'})"
                    )
                problems.extend(f"{fault}: {note}" for note in call.notes)
    finally:
        runner.close()
    print(f"\n{kind} {mode}: racing outcomes {outcomes}")
    assert not problems, "\n".join(problems)
    assert outcomes["abort"] > 0 and outcomes["fault"] > 0, f"the race never went both ways: {outcomes}"


# -- 4. retries: the SDK's own retry loop -------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_500_after_the_default_retries_keeps_its_type(server: MockLLMServer, kind: str, mode: str) -> None:
    """Provider-built SDK clients with the default max_retries (2): three 500s (retry-after 10 ms)
    end in the SDK's InternalServerError, not AbortError, after exactly three requests."""
    server.clear()
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async", own_clients=False)
    try:
        for _ in range(2):
            server.enqueue(HTTPError(500, retry_after=0.01))
        call = runner.call(provider, "http-500", HTTPError(500, retry_after=0.01), delay=None)
    finally:
        runner.close()
    expected = openai.InternalServerError if kind == "openai-compatible" else anthropic.InternalServerError
    assert type(call.outcome) is expected, _describe(call.outcome)
    assert server.request_count == 3
    assert {r.headers.get("x-stainless-retry-count") for r in server.requests} == {"0", "1", "2"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_provider_built_clients_with_max_retries_0_fail_fast(server: MockLLMServer, kind: str, mode: str) -> None:
    server.clear()
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async", own_clients=False, max_retries=0)
    try:
        call = runner.call(provider, "http-429", HTTPError(429, retry_after=5), delay=None)
    finally:
        runner.close()
    expected = openai.RateLimitError if kind == "openai-compatible" else anthropic.RateLimitError
    assert type(call.outcome) is expected, _describe(call.outcome)
    assert call.ended_at - call.started_at < 2.0 and server.request_count == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_an_abort_during_the_sdks_retry_backoff_is_prompt(server: MockLLMServer, kind: str, mode: str) -> None:
    server.clear()
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async", own_clients=False)  # default max_retries=2
    try:
        server.enqueue(HTTPError(500, retry_after=0.8), HTTPError(500, retry_after=0.8))
        # The trip comes 0.1 s after the first 500 arrived: the SDK is in its 0.8 s backoff.
        call = runner.call(provider, "http-500", HTTPError(500, retry_after=0.8), delay=0.1)
    finally:
        runner.close()
        while server.pending_scripts:  # leave nothing queued for the next test
            server._take_script()
    assert isinstance(call.outcome, AbortError), _describe(call.outcome)
    unwind = call.ended_at - call.trip["at"]
    assert unwind < 0.4, f"unwound {unwind:.2f} s after the trip (the SDK slept through the abort)"
    time.sleep(0.8)  # past the back-off: an abort that only shortened the sleep would retry by now
    assert len(server.requests) == 1, "the SDK retried after the abort"


# -- 5. a stream the upstream cut short --------------------------------------------------------------------



@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_truncated_stream_is_not_returned_as_a_complete_answer(server: MockLLMServer, kind: str, mode: str) -> None:
    runner = Runner(server, mode == "async")
    provider = make_provider(kind, server, mode == "async")
    try:
        call = runner.call(provider, "truncate", Script(steps=(Text("Hel"), Truncate())), delay=None)
    finally:
        runner.close()
    assert isinstance(call.outcome, Exception) and not isinstance(call.outcome, AbortError), _describe(call.outcome)
