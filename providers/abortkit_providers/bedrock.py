"""Amazon Bedrock's ConverseStream through boto3 (``bedrock-runtime`` ``converse_stream``).

boto3 is synchronous only, so this provider has no async API (``has_async = False``). It
streams over botocore's urllib3, which abortkit's network layer does not instrument yet:

* already aborted, and mid-burst: handled (``@abortable``'s fast path; ``abortable_iter``
  stops at the next event, and ``close_on_abort`` closes the event stream);
* connecting, waiting for the response headers, and a read blocked in a thinking gap: the
  abort takes effect only when the blocked call returns (the next event or the headers),
  because nothing can yet shut down a urllib3 connection's socket from the aborting thread.
  Each of these phases has a strict ``xfail`` test naming that missing core support; when
  abortkit learns to instrument botocore and wake a urllib3 read, they start passing.

``base_url`` is the endpoint URL (``https://bedrock-runtime.us-east-1.amazonaws.com``);
``api_key`` is ``"ACCESS_KEY_ID:SECRET_ACCESS_KEY"``; ``region`` (default ``us-east-1``)
signs the requests. To use a profile, a session token or an assumed role, pass
``client=boto3.client("bedrock-runtime", ...)``. ``max_retries`` becomes botocore's
``total_max_attempts = max_retries + 1`` (standard mode). botocore takes no ``http_client``.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from abortkit import AbortSignal, abortable_iter, close_on_abort

from ._accumulate import Accumulator
from ._base import ChatRequest, Provider
from ._checks import check_text
from ._history import arguments_object, system_text
from ._types import Message, Usage

__all__ = ["BedrockProvider"]


def _message(message: Message) -> dict[str, Any]:
    if message["role"] == "tool":
        result = {"toolUseId": message.get("tool_call_id", ""), "content": [{"text": message["content"]}]}
        return {"role": "user", "content": [{"toolResult": result}]}
    content: list[dict[str, Any]] = [{"text": message["content"]}] if message["content"] else []
    content += [
        {"toolUse": {"toolUseId": c.id, "name": c.name, "input": arguments_object(c.arguments)}}
        for c in message.get("tool_calls", ())
    ]
    return {"role": message["role"], "content": content or [{"text": ""}]}


class BedrockProvider(Provider):
    has_async = False

    def __init__(self, *, region: str = "us-east-1", **options: Any) -> None:
        self.region = region
        super().__init__(**options)

    def _check_options(self) -> None:
        check_text("region", self.region)

    def _check_client(self, name: str, given: Any, asynchronous: bool) -> None:
        if not (isinstance(given, BaseClient) and given.meta.service_model.service_name == "bedrock-runtime"):
            raise TypeError(f"{name} must be a boto3 bedrock-runtime client, not {type(given).__name__}")

    def _check_http_client(self, http_client: Any) -> None:
        raise TypeError("BedrockProvider takes no http_client: botocore uses urllib3; pass client= a boto3 client")

    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any:
        key_id, colon, secret = options["api_key"].partition(":")
        if not (key_id and colon and secret):
            raise ValueError("BedrockProvider api_key must be 'ACCESS_KEY_ID:SECRET_ACCESS_KEY'")
        return boto3.client(
            "bedrock-runtime",
            region_name=self.region,
            endpoint_url=options["base_url"],
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": options["max_retries"] + 1, "mode": "standard"}),
        )

    def _instrument(self, client: Any, asynchronous: bool) -> Any:
        return client  # botocore's urllib3 pool: no abortkit support yet (see the module docstring)

    def _create_args(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "modelId": self.model,
            "messages": [_message(m) for m in request.messages if m["role"] != "system"],
            "inferenceConfig": {"maxTokens": request.max_tokens},
        }
        system = system_text(request.messages)
        if system:
            args["system"] = [{"text": system}]
        if request.tools:
            specs = [
                {"toolSpec": {"name": t["name"], "description": t["description"], "inputSchema": {"json": t["parameters"]}}}
                for t in request.tools
            ]
            args["toolConfig"] = {"tools": specs}
        return args

    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        stream = self.sdk_client().converse_stream(**self._create_args(request))["stream"]
        with close_on_abort(signal, stream):
            for event in abortable_iter(stream, signal):
                _apply(event, acc)

    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None:
        raise TypeError(self._no_async())  # unreachable: achat_stream_response refuses first


def _apply(event: dict[str, Any], acc: Accumulator) -> None:
    """Feed one ConverseStream event (a one-key dict) to the accumulator."""
    if "contentBlockStart" in event:
        start = event["contentBlockStart"]
        tool = start["start"].get("toolUse")
        if tool is not None:
            acc.tool_call_delta(start["contentBlockIndex"], id=tool["toolUseId"], name=tool["name"])
    elif "contentBlockDelta" in event:
        index, delta = event["contentBlockDelta"]["contentBlockIndex"], event["contentBlockDelta"]["delta"]
        if "text" in delta:
            acc.text(delta["text"])
        elif "reasoningContent" in delta:
            acc.thinking(delta["reasoningContent"].get("text", ""))
        elif "toolUse" in delta:
            acc.tool_call_delta(index, arguments=delta["toolUse"]["input"])
    elif "contentBlockStop" in event:
        acc.tool_call_done(event["contentBlockStop"]["contentBlockIndex"])
    elif "messageStop" in event:
        acc.stop_reason = event["messageStop"]["stopReason"]
    elif "metadata" in event:
        usage = event["metadata"].get("usage", {})
        acc.usage = Usage(usage.get("inputTokens"), usage.get("outputTokens"))
