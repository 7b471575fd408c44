"""``Provider``: the one interface of the providers, and the only abort glue they share.

A provider subclass implements ``_stream``/``_astream`` (drive its SDK, feed the
``Accumulator``) and nothing else about aborts: the fast path, the scope that makes
every network phase abortable, the exception translation and the recheck all come
from ``@abortable``; the waking of a blocked read from ``instrument`` and
``close_on_abort``; the in-loop check from ``abortable_iter``. This module adds one
thing: the partial output attached to ``AbortError``, in one place
(``chat_stream_response``/``achat_stream_response``), whichever step raised it. The
decorated ``_run`` returns nothing, so ``@abortable``'s recheck (whose own
``partial`` is the body's return value) never carries a second copy of the output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from abortkit import AbortError, AbortSignal, abortable, instrument

from ._accumulate import Accumulator
from ._checks import ChatRequest, check_http_client, check_request, check_sdk_client, check_text
from ._types import ChatResult, Message, Tool

__all__ = ["ChatRequest", "Provider"]


class Provider(ABC):
    """Constructed with ``base_url``, ``api_key`` and ``model``; optionally ``client`` (an
    SDK client to use as is) or ``http_client`` (an httpx/httpx2 client for the SDK).
    Either way the HTTP client is instrumented so that every phase is abortable.

    A provider whose SDK has no async client sets ``has_async = False``: then
    ``async_client`` and ``achat_stream_response`` are refused with a ``TypeError``."""

    has_async: bool = True

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        client: Any = None,
        async_client: Any = None,
        http_client: Any = None,
        max_retries: int = 2,
    ) -> None:
        self.base_url = check_text("base_url", base_url)
        self.api_key = check_text("api_key", api_key)
        self.model = check_text("model", model)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative int, not {max_retries!r}")
        if async_client is not None and not self.has_async:
            raise TypeError(f"async_client: {self._no_async()}")
        # Every argument is checked before any client is touched.
        for name, given, asynchronous in (("client", client, False), ("async_client", async_client, True)):
            if given is not None:
                self._check_client(name, given, asynchronous)
        if http_client is not None:
            self._check_http_client(http_client)
        self._check_options()  # a subclass's own options
        self._options = {"base_url": base_url, "api_key": api_key, "max_retries": max_retries}
        # Built now, not on the first call: building an SDK client takes tens of
        # milliseconds cold, and an abort during it would only be noticed afterwards.
        self._clients: dict[bool, Any] = {}
        for asynchronous, given in ((False, client), (True, async_client)):
            if asynchronous and not self.has_async:
                continue
            if given is None:
                options = dict(self._options)
                if http_client is not None and hasattr(http_client, "aclose") == asynchronous:
                    options["http_client"] = http_client
                given = self._make_client(asynchronous, options)
            self._clients[asynchronous] = self._instrument(given, asynchronous)

    def sdk_client(self, asynchronous: bool = False) -> Any:
        """The SDK client (sync or async), instrumented so that every phase is abortable."""
        if asynchronous and not self.has_async:
            raise TypeError(self._no_async())
        return self._clients[asynchronous]

    def _no_async(self) -> str:
        return f"{type(self).__name__} has no async client (its SDK has none): use chat_stream_response"

    # -- the public interface -------------------------------------------------------------
    def chat_stream_response(
        self,
        messages: Sequence[Message],
        *,
        abort_signal: AbortSignal | None = None,
        on_text_chunk: Callable[[str], object] | None = None,
        tools: list[Tool] | None = None,
        max_tokens: int = 1024,
    ) -> ChatResult:
        """Stream one answer. On abort: ``AbortError`` whose ``partial`` is a ``ChatResult``."""
        request = check_request(messages, tools, max_tokens, on_text_chunk)
        accumulator = Accumulator(on_text_chunk)
        try:
            self._run(request, accumulator, abort_signal=abort_signal)
        except AbortError as error:
            error.partial = accumulator.partial()
            raise
        return accumulator.result()

    async def achat_stream_response(
        self,
        messages: Sequence[Message],
        *,
        abort_signal: AbortSignal | None = None,
        on_text_chunk: Callable[[str], object] | None = None,
        tools: list[Tool] | None = None,
        max_tokens: int = 1024,
    ) -> ChatResult:
        """The async twin of ``chat_stream_response``."""
        if not self.has_async:
            raise TypeError(self._no_async())
        request = check_request(messages, tools, max_tokens, on_text_chunk)
        accumulator = Accumulator(on_text_chunk)
        try:
            await self._arun(request, accumulator, abort_signal=abort_signal)
        except AbortError as error:
            error.partial = accumulator.partial()
            raise
        return accumulator.result()

    @abortable
    def _run(self, request: ChatRequest, acc: Accumulator, abort_signal: AbortSignal | None = None) -> None:
        self._stream(request, acc, abort_signal)

    @abortable
    async def _arun(self, request: ChatRequest, acc: Accumulator, abort_signal: AbortSignal | None = None) -> None:
        await self._astream(request, acc, abort_signal)

    # -- what each provider implements ------------------------------------------------------
    def _check_options(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Validate a subclass's own options (set before ``super().__init__``)."""

    def _check_client(self, name: str, given: Any, asynchronous: bool) -> None:
        """Refuse what is not this provider's SDK client for that slot (openai/anthropic by default)."""
        check_sdk_client(name, given, asynchronous)

    def _check_http_client(self, http_client: Any) -> None:
        """Refuse an ``http_client`` this provider's SDK cannot use."""
        check_http_client(http_client)

    def _instrument(self, client: Any, asynchronous: bool) -> Any:
        """Make every network phase of ``client`` obey the enclosing scope (``instrument``);
        a provider whose SDK keeps its HTTP client elsewhere reaches it here."""
        return instrument(client)

    @abstractmethod
    def _make_client(self, asynchronous: bool, options: dict[str, Any]) -> Any: ...

    @abstractmethod
    def _stream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None: ...

    @abstractmethod
    async def _astream(self, request: ChatRequest, acc: Accumulator, signal: AbortSignal | None) -> None: ...
