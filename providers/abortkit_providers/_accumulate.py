"""``Accumulator``: what a stream has produced so far, and the partial output on abort.

Every provider feeds it; none keeps its own copy of "text so far". Text reaches
``on_text_chunk`` here and only here, and only for chunks that ``abortable_iter``
handed over, so the callback is never called after the abort.
"""

from __future__ import annotations

from collections.abc import Callable

from ._types import ChatResult, ToolCall, Usage

__all__ = ["Accumulator", "IncompleteResponseError"]


class IncompleteResponseError(Exception):
    """The stream ended before the model finished (no stop reason), and nobody aborted it.

    ``partial`` holds what arrived, as ``AbortError.partial`` would; the difference is
    the cause: the upstream cut the answer short, not the caller.
    """

    def __init__(self, partial: ChatResult) -> None:
        super().__init__(f"the stream ended before the model finished ({len(partial.text)} characters received)")
        self.partial = partial


class Accumulator:
    def __init__(self, on_text_chunk: Callable[[str], object] | None) -> None:
        self._on_text_chunk = on_text_chunk
        self.reset()

    def reset(self) -> None:
        """Forget a failed attempt (the watchdog's retry starts the answer again)."""
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._complete_calls: list[ToolCall] = []
        self._open_calls: dict[int, list[str]] = {}  # index -> [id, name, arguments...]
        self.usage: Usage | None = None
        self.stop_reason: str | None = None

    def text(self, chunk: str) -> None:
        if chunk:
            self._text.append(chunk)
            if self._on_text_chunk is not None:
                self._on_text_chunk(chunk)

    def thinking(self, chunk: str) -> None:
        self._thinking.append(chunk)

    def tool_call_delta(
        self, index: int, *, id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> None:
        parts = self._open_calls.setdefault(index, ["", ""])
        if id:
            parts[0] = id
        if name:
            parts[1] = name
        if arguments:
            parts.append(arguments)

    def tool_call_done(self, index: int) -> None:
        parts = self._open_calls.pop(index, None)
        if parts is not None:
            self._complete_calls.append(ToolCall(parts[0], parts[1], "".join(parts[2:]) or "{}"))

    def tool_calls_done_before(self, index: int | None) -> None:
        """Complete every open call with a lower index (all of them for None)."""
        for open_index in sorted(self._open_calls):
            if index is None or open_index < index:
                self.tool_call_done(open_index)

    def tool_call(self, call: ToolCall) -> None:
        self._complete_calls.append(call)

    @property
    def tool_call_count(self) -> int:
        """Complete tool calls so far (for SDKs whose calls carry no id: Ollama, some Gemini)."""
        return len(self._complete_calls)

    def result(self) -> ChatResult:
        """The complete answer: open tool calls are complete once the stream ended.

        A stream that ended without its closing events (no finish or stop reason: the
        upstream gave up mid-answer) is not complete, and must not look it.
        """
        if self.stop_reason is None:
            raise IncompleteResponseError(self.partial())
        self.tool_calls_done_before(None)
        return self.partial()

    def partial(self) -> ChatResult:
        """What arrived before an abort: the text so far and only *complete* tool calls."""
        return ChatResult(
            text="".join(self._text),
            tool_calls=list(self._complete_calls),
            usage=self.usage,
            stop_reason=self.stop_reason,
            thinking="".join(self._thinking),
        )
