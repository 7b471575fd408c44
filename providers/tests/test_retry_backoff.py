"""An abort while the SDK sleeps between two attempts (after a 503) ends the call at once, and
no further attempt is made.

abortkit makes the openai/anthropic SDKs' back-off abortable (``instrument()`` wraps their
retry sleep). google-genai (tenacity) and botocore sleep in code abortkit does not wrap yet:
their cases are strict ``xfail`` naming that missing core support. The ollama client never
retries.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from provider_helpers import HANG_BOUND, MESSAGES, Tripper, make_provider

from abortkit import AbortController, AbortError
from abortkit.testing import HTTPError, MockLLMServer, Script


@pytest.fixture
def server() -> Iterator[MockLLMServer]:
    """Plain only: the back-off does not depend on the transport."""
    with MockLLMServer() as srv:
        yield srv


RETRY_DELAY_BOUND = 2.5  # longer than any of these SDKs' first back-off (tenacity: 1 s + 1 s jitter)


def _case(kind: str, missing: str | None = None) -> object:
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"missing core support: {missing}")]
    return pytest.param(kind, marks=marks if missing else [], id=kind)


@pytest.mark.parametrize(
    "kind",
    [
        _case("openai-responses"),
        _case("gemini", "google-genai's back-off (tenacity's sleep) is not wrapped by abortkit/_backoff.py"),
        _case("bedrock", "botocore's retry (its sleep, then the next attempt) does not see the abort"),
    ],
)
def test_abort_during_the_back_off_sleep(server: MockLLMServer, kind: str) -> None:
    server.enqueue(HTTPError(503, message="busy"), Script.simple("second attempt"))
    controller = AbortController()
    # Tripped inside the back-off: openai sleeps 0.5 s or more, tenacity 1 s or more; botocore's
    # jittered sleep can be a few ms, so there the abort comes as soon as the first request is in.
    tripper = Tripper(controller, delay=0.0 if kind == "bedrock" else 0.1, after_request=server)
    provider = make_provider(kind, server, asynchronous=False, max_retries=2)
    with pytest.raises(AbortError):
        provider.chat_stream_response(MESSAGES, abort_signal=controller.signal)
    assert tripper.unwind_seconds() < HANG_BOUND, "the abort waited for the back-off sleep"
    time.sleep(RETRY_DELAY_BOUND)
    assert server.request_count == 1, "a further attempt was made after the abort"
