"""IdleWatchdog over a real instrumented SDK stream: keep-alive bytes are progress by default,
and not with ``count_bytes=False`` (a deadline on content), where the app's ``note_progress()``
for each text chunk is what counts."""

from __future__ import annotations

from typing import Any

import pytest

from abortkit import AbortError, IdleWatchdog, abort_scope, abortable_iter, instrument
from abortkit.testing import Gap, MockLLMServer, Script, Text

from .conftest import MESSAGES, sdk_client

IDLE = 0.3
# A chunk, then 1 s of keep-alives only (every 50 ms), then the rest.
SCRIPT = Script(steps=(Text("Hello"), Gap(1.0, keepalive_every=0.05), Text(" world")))


def _stream_text(server: MockLLMServer, dog: IdleWatchdog) -> str:
    client = instrument(sdk_client("openai", server, asynchronous=False, max_retries=0))
    parts: list[str] = []
    with abort_scope(dog.signal):
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        for chunk in abortable_iter(stream, dog.signal):
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
                dog.note_progress()
    return "".join(parts)


def test_keepalive_bytes_keep_a_byte_watchdog_alive(server: MockLLMServer) -> None:
    server.enqueue(SCRIPT)
    with IdleWatchdog(IDLE) as dog:
        text = _stream_text(server, dog)
    assert text == "Hello world" and not dog.timed_out


def test_keepalive_bytes_do_not_keep_a_content_watchdog_alive(server: MockLLMServer) -> None:
    server.enqueue(SCRIPT)
    with IdleWatchdog(IDLE, count_bytes=False) as dog, pytest.raises(AbortError) as caught:
        _stream_text(server, dog)
    assert dog.timed_out
    reason: Any = caught.value.reason
    assert str(reason) == f"no progress for {IDLE:g} s"
    (request,) = server.requests
    assert server.wait_for_disconnect(request, 2.0) is not None
