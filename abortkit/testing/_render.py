"""Turn a script into a plan of transport operations for one response.

Why a plan of operations between the script and the socket: the script says *what* happens
(abstract model output), the dialect says *which bytes* that is, and the server only has to know
*when* to do *which write*. Keeping the plan a flat sequence of small operations (write these
bytes, wait this long while sending keepalives, hold, reset, end) makes the server's timing loop
trivial to get right, and makes rendering testable without sockets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._dialect import Block, Dialect, Exchange, TextBlock, ThinkingBlock, ToolBlock
from ._script import (
    Gap,
    HTTPError,
    Malformed,
    Reset,
    Script,
    ScriptLike,
    Stall,
    StopReason,
    StreamError,
    Text,
    Thinking,
    ToolCall,
    Truncate,
)

__all__ = ["Abort", "End", "Head", "Hold", "Op", "Pause", "Write", "render"]

Headers: TypeAlias = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Head:
    """Write the status line and headers."""

    status: int
    headers: Headers


@dataclass(frozen=True)
class Write:
    """Write body bytes now (one chunk when the body is chunked)."""

    data: bytes


@dataclass(frozen=True)
class Pause:
    """Write nothing for ``seconds`` except ``keepalive`` every ``every`` seconds."""

    seconds: float
    keepalive: bytes | None = None
    every: float | None = None


@dataclass(frozen=True)
class Hold:
    """Stay silent until the peer leaves or the service stops."""


@dataclass(frozen=True)
class Abort:
    """Reset the connection (RST)."""


@dataclass(frozen=True)
class End:
    """The body is complete."""


Op: TypeAlias = Head | Write | Pause | Hold | Abort | End


def render(
    script: ScriptLike,
    dialect: Dialect,
    request_json: Any,
    *,
    seq: int,
    stream: bool | None = None,
    model: str | None = None,
) -> Iterator[Op]:
    """The operations that answer one request to ``dialect`` with ``script``.

    ``seq`` numbers responses so that ids (``chatcmpl-mock000003``, ``toolu_mock000003_0``) are
    unique and predictable. ``stream``: whether to stream (None: the body's ``"stream": true``
    decides); ``model``: the model the path named (Gemini, Bedrock), echoed unless the script
    names one.
    """
    if isinstance(script, HTTPError):
        return _render_error(script, dialect, seq)
    body = request_json if isinstance(request_json, dict) else {}
    if stream is None:
        stream = body.get("stream") is True
    if stream:
        return _render_stream(script, dialect, body, seq, model)
    return _render_complete(script, dialect, body, seq, model)


def _common_headers(seq: int, extra: Any) -> list[tuple[str, str]]:
    headers = [("request-id", f"req_mock{seq:06d}"), ("x-request-id", f"req_mock{seq:06d}")]
    headers.extend((str(k), str(v)) for k, v in dict(extra).items())
    return headers


def _exchange(
    script: Script, dialect: Dialect, body: dict[str, Any], seq: int, output: int | None, model: str | None
) -> Exchange:
    return Exchange.for_request(
        body,
        seq=seq,
        prefix=dialect.id_prefix,
        model=script.model,
        input_tokens=script.input_tokens,
        output_tokens=output,
        path_model=model,
    )


def _tool_id(call: ToolCall, dialect: Dialect, seq: int, n: int) -> str:
    return call.id if call.id is not None else f"{dialect.tool_id_prefix}mock{seq:06d}_{n}"


def _stop_reason(script: Script, saw_tool: bool) -> StopReason:
    if script.stop_reason is not None:
        return script.stop_reason
    return "tool_use" if saw_tool else "end_turn"


def _render_stream(
    script: Script, dialect: Dialect, body: dict[str, Any], seq: int, model: str | None
) -> Iterator[Op]:
    enc = dialect.encoder(_exchange(script, dialect, body, seq, script.output_tokens, model))
    if script.head_delay > 0:
        yield Pause(script.head_delay)
    if script.steps and isinstance(script.steps[0], (Stall, Reset)):
        # A leading Stall or Reset acts before the status line (as in non-streaming answers).
        yield Hold() if isinstance(script.steps[0], Stall) else Abort()
        return
    headers = [
        ("content-type", dialect.stream_content_type),
        ("cache-control", "no-cache"),
        ("transfer-encoding", "chunked"),
        *_common_headers(seq, script.headers),
    ]
    yield Head(script.status, tuple(headers))

    opened = False

    def opening() -> bytes:
        # The opening event rides on the first write, so a leading silent gap leaves the body empty.
        nonlocal opened
        if opened:
            return b""
        opened = True
        return enc.open()

    tools = 0
    for step in script.steps:
        if isinstance(step, Text):
            yield Write(opening() + enc.text(step.text))
        elif isinstance(step, Thinking):
            yield Write(opening() + enc.thinking(step.text, step.signature))
        elif isinstance(step, ToolCall):
            yield Write(opening() + enc.tool_call(step, _tool_id(step, dialect, seq, tools)))
            tools += 1
        elif isinstance(step, Gap):
            keepalive = enc.keepalive() if step.keepalive_every is not None else None
            if keepalive is not None:
                prefix = opening()
                if prefix:
                    yield Write(prefix)
                yield Pause(step.seconds, keepalive, step.keepalive_every)
            else:  # no keepalive asked for, or none in this protocol: a silent gap
                yield Pause(step.seconds)
        elif isinstance(step, Stall):
            yield Hold()
            return
        elif isinstance(step, Reset):
            yield Abort()
            return
        elif isinstance(step, Malformed):
            yield Write(step.raw)
        elif isinstance(step, Truncate):
            yield End()
            return
        else:
            yield Write(enc.error(step))
            yield End()
            return
    yield Write(opening() + enc.close(_stop_reason(script, tools > 0)))
    yield End()


def _render_complete(
    script: Script, dialect: Dialect, body: dict[str, Any], seq: int, model: str | None
) -> Iterator[Op]:
    if script.head_delay > 0:
        yield Pause(script.head_delay)
    blocks: list[Block] = []
    deltas = 0
    tools = 0
    raw: bytes | None = None
    status = script.status
    error: StreamError | None = None
    for step in script.steps:
        if isinstance(step, Text):
            deltas += 1
            if blocks and isinstance(blocks[-1], TextBlock):
                blocks[-1] = TextBlock(blocks[-1].text + step.text)
            else:
                blocks.append(TextBlock(step.text))
        elif isinstance(step, Thinking):
            deltas += 1
            if blocks and isinstance(blocks[-1], ThinkingBlock):
                blocks[-1] = ThinkingBlock(blocks[-1].thinking + step.text, step.signature)
            else:
                blocks.append(ThinkingBlock(step.text, step.signature))
        elif isinstance(step, ToolCall):
            deltas += 1
            blocks.append(ToolBlock(_tool_id(step, dialect, seq, tools), step.name, step.arguments_json))
            tools += 1
        elif isinstance(step, Gap):
            # Non-streaming: the model's gaps are simply time before the response.
            yield Pause(step.seconds)
        elif isinstance(step, Stall):
            yield Hold()
            return
        elif isinstance(step, Reset):
            yield Abort()
            return
        elif isinstance(step, Malformed):
            raw = (raw or b"") + step.raw
        elif isinstance(step, Truncate):
            # The body is cut off half-way through the JSON a complete answer would have had.
            complete = dialect.complete_body(
                _exchange(script, dialect, body, seq, max(1, deltas), model), blocks, _stop_reason(script, tools > 0)
            )
            raw = complete[: len(complete) // 2]
            break
        else:
            error = step
            break
    output = script.output_tokens if script.output_tokens is not None else max(1, deltas)
    exchange = _exchange(script, dialect, body, seq, output, model)
    extra: list[tuple[str, str]] = []
    if error is not None:
        status = 500
        payload = dialect.error_body(500, error.message, error.type)
        extra = dialect.error_headers(500, error.type)
    elif raw is not None:
        payload = raw
    else:
        payload = dialect.complete_body(exchange, blocks, _stop_reason(script, tools > 0))
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(payload))),
        *extra,
        *_common_headers(seq, script.headers),
    ]
    yield Head(status, tuple(headers))
    yield Write(payload)
    yield End()


def _render_error(error: HTTPError, dialect: Dialect, seq: int) -> Iterator[Op]:
    if error.head_delay > 0:
        yield Pause(error.head_delay)
    if error.body is None:
        payload = dialect.error_body(error.status, error.message)
    elif isinstance(error.body, bytes):
        payload = error.body
    else:
        payload = json.dumps(dict(error.body)).encode()
    headers = [("content-type", "application/json"), ("content-length", str(len(payload)))]
    if error.retry_after is not None:
        headers.append(("retry-after", format(error.retry_after, "g")))
    if error.should_retry is not None:
        headers.append(("x-should-retry", "true" if error.should_retry else "false"))
    headers.extend(dialect.error_headers(error.status))
    headers.extend(_common_headers(seq, error.headers))
    yield Head(error.status, tuple(headers))
    yield Write(payload)
    yield End()
