"""The OpenAI Responses API (``POST /v1/responses``), streamed as typed SSE events or not.

What the openai SDK reads (``responses.create(stream=True)`` yields the raw events,
``responses.stream(...)`` accumulates them and checks their order strictly):

* ``event: <type>`` plus ``data:`` JSON whose ``type`` repeats the name and whose
  ``sequence_number`` counts from 0; ``response.created`` comes first (the accumulator refuses
  anything else first), then ``response.in_progress``.
* Every output item is opened by ``response.output_item.added`` and closed by
  ``response.output_item.done``: a ``reasoning`` item whose summary streams as
  ``response.reasoning_summary_part.added`` / ``response.reasoning_summary_text.delta`` / ``.done``
  / ``response.reasoning_summary_part.done``; a ``message`` whose text streams inside a content
  part (``response.content_part.added`` / ``response.output_text.delta`` / ``.done`` /
  ``response.content_part.done``); a ``function_call`` whose arguments stream as
  ``response.function_call_arguments.delta`` / ``.done``.
* The end is ``response.completed`` (or ``response.incomplete`` with
  ``incomplete_details.reason`` ``max_output_tokens``) carrying the whole response with usage;
  there is no ``[DONE]``. An in-stream failure is an ``error`` event.

Keepalives are SSE comments, which the SDK's decoder drops.
"""

from __future__ import annotations

from typing import Any

from ._dialect import (
    Block,
    Dialect,
    Exchange,
    StreamEncoder,
    TextBlock,
    ThinkingBlock,
    ToolBlock,
    count_output,
    dumps,
    fragments,
)
from ._script import StopReason, StreamError, ToolCall
from ._sse import OpenAIChat, sse_comment, sse_event

__all__ = ["OpenAIResponses"]


def _response(exchange: Exchange, status: str, output: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
    return {
        "id": exchange.response_id,
        "object": "response",
        "created_at": exchange.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": exchange.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def _status(stop_reason: StopReason) -> str:
    return "incomplete" if stop_reason == "max_tokens" else "completed"


class _ResponsesEncoder(StreamEncoder):
    def __init__(self, exchange: Exchange) -> None:
        super().__init__(exchange)
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # completed items, in output order
        self._kind: str | None = None  # the open item: "reasoning" or "message"
        self._item_id = ""
        self._text: list[str] = []

    def _event(self, kind: str, payload: dict[str, Any]) -> bytes:
        data = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return sse_event(data, event=kind)

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._item_id, "output_index": len(self._output)}

    def _item_event(self, kind: str, item: dict[str, Any]) -> bytes:
        return self._event(kind, {"output_index": len(self._output), "item": item})

    def _close_item(self) -> bytes:
        if self._kind is None:
            return b""
        text = "".join(self._text)
        out: list[bytes] = []
        if self._kind == "reasoning":
            where = {**self._where(), "summary_index": 0}
            out.append(self._event("response.reasoning_summary_text.done", {**where, "text": text}))
            part: dict[str, Any] = {"type": "summary_text", "text": text}
            out.append(self._event("response.reasoning_summary_part.done", {**where, "part": part}))
            item = _reasoning_item(self._item_id, text)
        else:
            where = {**self._where(), "content_index": 0}
            out.append(self._event("response.output_text.done", {**where, "text": text, "logprobs": []}))
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out.append(self._event("response.content_part.done", {**where, "part": part}))
            item = _message_item(self._item_id, text)
        out.append(self._item_event("response.output_item.done", item))
        self._output.append(item)
        self._kind = None
        return b"".join(out)

    def _open_item(self, kind: str) -> bytes:
        if self._kind == kind:
            return b""
        out = [self._close_item()]
        self._kind = kind
        self._item_id = f"{'rs' if kind == 'reasoning' else 'msg'}_{self.exchange.response_id}_{len(self._output)}"
        self._text = []
        if kind == "reasoning":
            added: dict[str, Any] = {"id": self._item_id, "type": kind, "summary": []}
            out.append(self._item_event("response.output_item.added", added))
            part: dict[str, Any] = {"type": "summary_text", "text": ""}
            where = {**self._where(), "summary_index": 0}
            out.append(self._event("response.reasoning_summary_part.added", {**where, "part": part}))
        else:
            added = {**_message_item(self._item_id, "", "in_progress"), "content": []}
            out.append(self._item_event("response.output_item.added", added))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out.append(self._event("response.content_part.added", {**self._where(), "content_index": 0, "part": part}))
        return b"".join(out)

    def open(self) -> bytes:
        response = _response(self.exchange, "in_progress", [])
        return self._event("response.created", {"response": response}) + self._event(
            "response.in_progress", {"response": response}
        )

    def text(self, text: str) -> bytes:
        head = self._open_item("message")
        self.deltas += 1
        self._text.append(text)
        where = {**self._where(), "content_index": 0}
        return head + self._event("response.output_text.delta", {**where, "delta": text, "logprobs": []})

    def thinking(self, text: str, signature: str) -> bytes:
        head = self._open_item("reasoning")
        self.deltas += 1
        self._text.append(text)
        where = {**self._where(), "summary_index": 0}
        return head + self._event("response.reasoning_summary_text.delta", {**where, "delta": text})

    def tool_call(self, call: ToolCall, tool_id: str) -> bytes:
        out = [self._close_item()]
        item_id = f"fc_{self.exchange.response_id}_{len(self._output)}"
        where = {"item_id": item_id, "output_index": len(self._output)}
        added = _call_item(item_id, tool_id, call.name, "", "in_progress")
        out.append(self._item_event("response.output_item.added", added))
        for piece in fragments(call.arguments_json, call.chunk_size):
            self.deltas += 1
            out.append(self._event("response.function_call_arguments.delta", {**where, "delta": piece}))
        done = {**where, "name": call.name, "arguments": call.arguments_json}
        out.append(self._event("response.function_call_arguments.done", done))
        item = _call_item(item_id, tool_id, call.name, call.arguments_json)
        out.append(self._item_event("response.output_item.done", item))
        self._output.append(item)
        return b"".join(out)

    def keepalive(self) -> bytes:
        return sse_comment("keepalive")

    def error(self, error: StreamError) -> bytes:
        return self._event("error", {"code": error.type, "message": error.message, "param": None})

    def close(self, stop_reason: StopReason) -> bytes:
        head = self._close_item()
        ex = self.exchange
        status = _status(stop_reason)
        response = _response(ex, status, self._output, _usage(ex.input_tokens, self.output_tokens()))
        return head + self._event(f"response.{status}", {"response": response})


class OpenAIResponses(Dialect):
    """``POST /v1/responses`` (streaming and not); errors as in chat completions."""

    name = "openai-responses"
    id_prefix = "resp_"
    tool_id_prefix = "call_"

    def encoder(self, exchange: Exchange) -> StreamEncoder:
        return _ResponsesEncoder(exchange)

    def complete_body(self, exchange: Exchange, blocks: list[Block], stop_reason: StopReason) -> bytes:
        output: list[dict[str, Any]] = []
        for n, block in enumerate(blocks):
            if isinstance(block, TextBlock):
                output.append(_message_item(f"msg_{exchange.response_id}_{n}", block.text))
            elif isinstance(block, ThinkingBlock):
                output.append(_reasoning_item(f"rs_{exchange.response_id}_{n}", block.thinking))
            elif isinstance(block, ToolBlock):
                output.append(_call_item(f"fc_{exchange.response_id}_{n}", block.id, block.name, block.arguments_json))
        usage = _usage(exchange.input_tokens, count_output(exchange, blocks))
        return dumps(_response(exchange, _status(stop_reason), output, usage)).encode()

    def error_body(self, status: int, message: str, error_type: str | None = None) -> bytes:
        return _CHAT.error_body(status, message, error_type)


_CHAT = OpenAIChat()
