"""Scripts: what the mock model "says" and when, independent of any provider's wire format.

Why abstract steps instead of canned byte strings: abortkit's behaviour has to be proven for
every provider dialect and for both streaming and non-streaming calls. A test states the model's
behaviour once (a chunk, then three seconds of thinking, then the rest) and the server renders
it into whichever dialect the request used, so one scenario covers OpenAI, Anthropic and Minimax.

The timing steps (:class:`Gap`, :class:`Stall`) and the failure steps (:class:`Reset`,
:class:`Malformed`, :class:`StreamError`, :class:`HTTPError`) are the situations that abort
handling must survive: a consumer blocked in a read during a long gap, a peer that never answers,
a connection that dies, bytes that do not parse.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, get_args

from .._validate import is_finite as _is_finite
from .._validate import is_number as _is_number
from .._validate import type_name as _type_name

__all__ = [
    "Gap",
    "HTTPError",
    "Malformed",
    "Reset",
    "Script",
    "ScriptLike",
    "Stall",
    "Step",
    "StopReason",
    "StreamError",
    "Text",
    "Thinking",
    "ToolCall",
    "Truncate",
]

StopReason: TypeAlias = Literal["end_turn", "max_tokens", "tool_use", "stop_sequence"]
"""Why the model stopped, in Anthropic's words; the OpenAI dialect maps it to
``stop`` / ``length`` / ``tool_calls`` / ``stop``."""


_STOP_REASONS: tuple[str, ...] = get_args(StopReason)


def _check_seconds(name: str, value: float) -> None:
    if not _is_number(value):
        raise TypeError(f"{name} must be a number of seconds, not {_type_name(value)}")
    if not _is_finite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {_type_name(value)}")


def _check_optional_str(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, not {_type_name(value)}")


def _check_int(name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        wanted = "an int or None" if optional else "an int"
        raise TypeError(f"{name} must be {wanted}, not {_type_name(value)}")


def _check_headers(name: str, value: object) -> None:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of str to str, not {_type_name(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"{name} must map str to str, got {key!r}: {item!r}")


@dataclass(frozen=True)
class Text:
    """One text delta. Consecutive Text steps extend the same text block."""

    text: str

    def __post_init__(self) -> None:
        _check_str("Text.text", self.text)


@dataclass(frozen=True)
class Thinking:
    """One reasoning delta. Consecutive Thinking steps extend one thinking block.

    Anthropic: ``thinking_delta`` events, and a ``signature_delta`` (the last step's
    ``signature``) when the block closes. OpenAI dialect: ``delta.reasoning_content``, as
    OpenAI-compatible reasoning servers send it (the signature is not sent). Responses: a
    ``reasoning`` item's summary text; Gemini: parts with ``"thought": true``; Ollama:
    ``message.thinking``; Bedrock: ``reasoningContent`` deltas, then the signature.
    """

    text: str
    signature: str = "mock-signature"

    def __post_init__(self) -> None:
        _check_str("Thinking.text", self.text)
        _check_str("Thinking.signature", self.signature)


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call, streamed as its header then argument fragments.

    ``arguments_json`` is sent verbatim, cut into ``chunk_size``-character fragments (one delta
    each), so partial-JSON accumulation in the SDKs is exercised. ``id`` defaults to a generated
    ``call_…`` / ``toolu_…`` id.
    """

    name: str
    arguments_json: str = "{}"
    id: str | None = None
    chunk_size: int = 8

    def __post_init__(self) -> None:
        _check_str("ToolCall.name", self.name)
        _check_str("ToolCall.arguments_json", self.arguments_json)
        _check_optional_str("ToolCall.id", self.id)
        _check_int("ToolCall.chunk_size", self.chunk_size)
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")


@dataclass(frozen=True)
class Gap:
    """Send nothing for ``seconds`` (measured from the end of the previous write).

    With ``keepalive_every``, the dialect's keepalive (OpenAI chat and Responses: an SSE comment
    ``: keepalive``; Anthropic: ``event: ping``) is written at that interval during the gap, on a
    fixed schedule from the gap's start, so the gap's total length is unchanged. Gemini, Ollama
    and Bedrock have no keepalive in their protocols: there the gap stays silent. The client leaving during the
    gap is noticed and recorded within milliseconds.
    """

    seconds: float
    keepalive_every: float | None = None

    def __post_init__(self) -> None:
        _check_seconds("Gap.seconds", self.seconds)
        every = self.keepalive_every
        if every is not None and not _is_number(every):
            raise TypeError(f"Gap.keepalive_every must be a number of seconds or None, not {_type_name(every)}")
        if every is not None and not (_is_finite(every) and every > 0):
            raise ValueError("keepalive_every must be > 0 seconds or None")


@dataclass(frozen=True)
class Stall:
    """Hold the connection open and silent until the client leaves or the server stops.

    The response is never completed. This is the "model hangs" case that only an abort ends.
    """


@dataclass(frozen=True)
class Reset:
    """Abort the TCP connection with an RST (SO_LINGER 0, then close), at this point."""


@dataclass(frozen=True)
class Malformed:
    """Write ``raw`` bytes verbatim into the body (not SSE-framed), then carry on.

    In a non-streaming response the body becomes ``raw`` instead of the JSON.
    """

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, (bytes, bytearray, memoryview)):
            raise TypeError(f"Malformed.raw must be bytes, not {_type_name(self.raw)} (encode a str first)")
        object.__setattr__(self, "raw", bytes(self.raw))


@dataclass(frozen=True)
class StreamError:
    """An error reported inside a 200 stream, after which the body ends.

    Anthropic: ``event: error`` with ``{"type": "error", "error": {...}}``; OpenAI:
    ``data: {"error": {...}}``; Responses: an ``error`` event; Gemini: ``data: {"error": {...}}``;
    Ollama: a line ``{"error": "..."}``; Bedrock: an event-stream exception message.
    Non-streaming, it becomes an HTTP 500 with that dialect's error body.
    """

    type: str = "overloaded_error"
    message: str = "Overloaded"

    def __post_init__(self) -> None:
        _check_str("StreamError.type", self.type)
        _check_str("StreamError.message", self.message)


@dataclass(frozen=True)
class Truncate:
    """End the body here, in good HTTP order, but without the dialect's closing events.

    The stream looks finished to the HTTP layer and unfinished to the SDK (no ``[DONE]`` /
    ``message_stop``): the "upstream gave up mid-answer" case, which must not look like an abort.
    Non-streaming, the JSON body is cut in half (framed correctly, unparseable).
    """


Step: TypeAlias = Text | Thinking | ToolCall | Gap | Stall | Reset | Malformed | StreamError | Truncate
"""One element of :attr:`Script.steps`."""

_STEP_TYPES = (Text, Thinking, ToolCall, Gap, Stall, Reset, Malformed, StreamError, Truncate)


@dataclass(frozen=True)
class Script:
    """How the server answers one request.

    ``head_delay`` withholds the status line itself (the "headers arrive late" case seen behind
    proxies). The dialect's opening event (Anthropic ``message_start``, OpenAI's role chunk)
    goes out with the first step that writes body bytes, so a leading silent :class:`Gap` means
    "headers sent, body silent"; a Gap with keepalives writes, so it opens the body at its start.
    A :class:`Stall` or :class:`Reset` as the *first* step acts before the status line (the
    request hangs, or the connection dies, with no response at all); put ``Gap(0)`` before it
    to send the headers first.
    After the steps come the closing events (stop reason, usage, ``[DONE]`` / ``message_stop``)
    unless a step ended the response first.
    """

    steps: Sequence[Step] = ()
    head_delay: float = 0.0
    status: int = 200
    stop_reason: StopReason | None = None
    """None: ``tool_use`` if there was a tool call, else ``end_turn``."""
    input_tokens: int = 12
    output_tokens: int | None = None
    """None: one per content delta."""
    model: str | None = None
    """None: echo the request's ``model``."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Extra response headers."""

    def __post_init__(self) -> None:
        if isinstance(self.steps, (str, bytes, Mapping)) or not isinstance(self.steps, Iterable):
            raise TypeError(f"Script.steps must be a sequence of steps, not {_type_name(self.steps)}")
        steps = tuple(self.steps)
        for step in steps:
            if not isinstance(step, _STEP_TYPES):
                raise TypeError(f"not a script step: {step!r}")
        _check_seconds("head_delay", self.head_delay)
        _check_int("Script.status", self.status)
        if not 200 <= self.status <= 599:
            raise ValueError("status must be an HTTP status between 200 and 599")
        if self.stop_reason is not None and self.stop_reason not in _STOP_REASONS:
            raise ValueError(f"Script.stop_reason must be one of {_STOP_REASONS} or None, not {self.stop_reason!r}")
        _check_int("Script.input_tokens", self.input_tokens)
        _check_int("Script.output_tokens", self.output_tokens, optional=True)
        _check_optional_str("Script.model", self.model)
        _check_headers("Script.headers", self.headers)
        object.__setattr__(self, "steps", steps)

    # -- constructors for the common scenarios ----------------------------------------------

    @classmethod
    def simple(cls, text: str = "Hello from abortkit.", *, chunks: int = 4, head_delay: float = 0.0) -> Script:
        """A normal reply: ``text`` cut into about ``chunks`` deltas, written back to back."""
        return cls(steps=tuple(Text(part) for part in _split(text, chunks)), head_delay=head_delay)

    @classmethod
    def burst(cls, n_chunks: int = 200, *, text: str = "x", head_delay: float = 0.0) -> Script:
        """``n_chunks`` deltas of ``text`` back to back: a fast model, for throughput and races."""
        if n_chunks < 0:
            raise ValueError("n_chunks must be >= 0")
        return cls(steps=tuple(Text(text) for _ in range(n_chunks)), head_delay=head_delay)

    @classmethod
    def thinking_gap(
        cls,
        first: str = "Hello",
        gap: float = 3.0,
        then: str = " world",
        keepalive_every: float | None = None,
    ) -> Script:
        """One chunk, then a long silent (or keepalive-only) gap, then the rest.

        The canonical abort scenario: the consumer is blocked in a socket read mid-stream.
        """
        return cls(steps=(Text(first), Gap(gap, keepalive_every), Text(then)))

    @classmethod
    def headers_after(cls, seconds: float, text: str = "Hello from abortkit.", *, chunks: int = 4) -> Script:
        """No status line until ``seconds`` have passed, then a normal reply.

        The abort must work before any response object exists (the SDK call has not returned).
        """
        return cls.simple(text, chunks=chunks, head_delay=seconds)


@dataclass(frozen=True)
class HTTPError:
    """Answer with an HTTP error status instead of a model reply.

    ``body`` None renders the dialect's own error JSON (so the SDK's error class and message
    parsing are exercised); ``retry_after`` sets ``retry-after`` in seconds (fractions allowed,
    both SDKs accept them); ``should_retry`` sets ``x-should-retry``, which both SDKs obey.
    """

    status: int = 500
    retry_after: float | None = None
    body: bytes | Mapping[str, object] | None = None
    message: str = "mock error"
    should_retry: bool | None = None
    head_delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_int("HTTPError.status", self.status)
        if not 400 <= self.status <= 599:
            raise ValueError("HTTPError.status must be between 400 and 599")
        _check_seconds("head_delay", self.head_delay)
        if self.retry_after is not None:
            _check_seconds("retry_after", self.retry_after)
        if self.body is not None and not isinstance(self.body, (bytes, Mapping)):
            raise TypeError(f"HTTPError.body must be bytes, a mapping or None, not {_type_name(self.body)}")
        _check_str("HTTPError.message", self.message)
        if self.should_retry is not None and not isinstance(self.should_retry, bool):
            raise TypeError(f"HTTPError.should_retry must be a bool or None, not {_type_name(self.should_retry)}")
        _check_headers("HTTPError.headers", self.headers)


ScriptLike: TypeAlias = Script | HTTPError
"""Anything :meth:`MockLLMServer.enqueue` accepts."""


def _split(text: str, parts: int) -> list[str]:
    """Cut ``text`` into at most ``parts`` non-empty pieces of near-equal length."""
    if not text:
        return []
    parts = max(1, min(parts, len(text)))
    size = math.ceil(len(text) / parts)
    return [text[i : i + size] for i in range(0, len(text), size)]
