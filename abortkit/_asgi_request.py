"""One HTTP request under ``AbortOnDisconnect``: who reads ``receive()``, and when it is an abort.

The problem
-----------
An ASGI server reports a client that left in two ways only: ``receive()`` returns
``{"type": "http.disconnect"}``, or ``send()`` fails (ASGI 2.4: an ``OSError``; uvicorn's
``ClientDisconnected`` is one). An endpoint that is waiting for its upstream's first token
neither receives nor sends, so it learns nothing; polling ``request.is_disconnected()`` costs
the poll interval (LiteLLM polls every second) and, under Starlette's ``BaseHTTPMiddleware``,
may never see the disconnect at all. Someone must be *waiting in* ``receive()`` for the whole
life of the request. The app may not be; so the middleware does it.

Who reads the server's ``receive()`` (the pump)
----------------------------------------------
Exactly one task calls the server's ``receive()``: the pump, started with the request. It
appends every message to ``_messages`` in order; the app's ``receive()`` (``RequestWatch.receive``)
takes them from there, first in, first out. So the body is never stolen: the app gets every
``http.request`` message the server produced, in order, whenever it asks, and the disconnect
after them. One reader matters: servers do not support two concurrent ``receive()`` calls
well (uvicorn wakes both on one shared ``asyncio.Event``, hypercorn hands the single
``http.disconnect`` to whichever ``Queue.get`` wins), and Starlette's own streaming responses
and ``is_disconnected()`` call ``receive()`` concurrently with the endpoint. Behind the pump any
number of app tasks may call ``receive()`` at once: each waits on the current generation event
and looks again; a message goes to exactly one of them (a pop happens with no ``await`` between
the check and the pop, so two tasks cannot both take it).

* ``http.disconnect`` is sticky: once the server reported it, every later app ``receive()``
  returns it (after the body messages still queued), as uvicorn does; hypercorn delivers it
  only once, and an app that asked twice would otherwise hang.
* A ``receive()`` of the app cancelled while waiting (``is_disconnected()`` calls it under a
  cancelled scope) loses nothing: it had taken nothing.
* If the server's ``receive()`` raises, the app's next ``receive()`` raises the same exception.

Back-pressure: the pump stops reading once ``max_body_buffer`` bytes of body wait in
``_messages`` for an app that does not take them, and resumes when the app takes some. Then
(and only then: a large upload the app has not read yet) a disconnect is seen at the next
failed ``send()`` or once the app reads on, as without the middleware; a server that has
stopped reading the socket cannot see the client leave either. Bodies of LLM requests are far
below the default (1 MiB). ``Expect: 100-continue``: calling ``receive()`` makes uvicorn send
``100 Continue``, which would take from the app its choice to refuse the body unread (a 401
before the upload). For such a request the pump starts at the app's first ``receive()`` or
first ``send()``, whichever comes first; before that, only a failed send reports a disconnect.

When a disconnect is an abort
-----------------------------
The signal guards the *response*. A ``http.disconnect`` that the pump receives before the app
handed the final response message to ``send()`` trips it at once, in the pump, before the app
can receive the message. From that hand-over on, a disconnect from ``receive()`` no longer
trips it: servers report the end of a *completed* response the same way (uvicorn as soon as
the final ``send()`` returns; hypercorn, on asyncio and trio, while it is still in flight when
the connection is not kept alive; Starlette's ``BaseHTTPMiddleware`` outside the middleware in
the same step as its final ``send()`` returns), and a client closing an idle keep-alive
connection has aborted nothing. Nor could the two be told apart by the outcome of that send:
on hypercorn under trio, Starlette's streaming response hears the completion-disconnect and
cancels its own final ``send()``. (Each of these made ``tests/asgi``'s completed-requests test
fail when the rule was weaker.) Only that send failing with ``OSError`` trips the
signal; so does any failed ``send()`` before it, before the error propagates to the app. A
client that leaves while the server still writes the last message (a large body into a full
socket buffer) is therefore not reported: by then the app has produced its whole response, and
there is nothing upstream left to stop. Once the app has returned, the pump is cancelled and
the signal never trips.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ._eventloop import Event, EventLoop
from ._signal import AbortController, AbortSignal

__all__ = ["ClientDisconnected", "Message", "Receive", "RequestWatch", "Send"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(ConnectionError):
    """The client of an HTTP request went away before its response was complete.

    The reason of the signal that ``abortkit.asgi.request_signal`` returns. ``via`` says how the
    server reported it: ``"receive"`` (an ``http.disconnect`` message) or ``"send"`` (``send()``
    failed; the server's error is ``__cause__``). ``at`` is when abortkit saw it
    (``time.monotonic()``), so a gateway can tell how long its upstream kept running after.
    """

    via: str
    at: float

    def __init__(self, message: str = "client disconnected", *, via: str = "receive", at: float | None = None) -> None:
        super().__init__(message)
        self.via = via
        self.at = time.monotonic() if at is None else at

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), self.via, self.at))


def _rebuild(cls: type[ClientDisconnected], message: str, via: str, at: float) -> ClientDisconnected:
    return cls(message, via=via, at=at)


def _body_size(message: Message) -> int:
    body = message.get("body")
    return len(body) if isinstance(body, (bytes, bytearray, memoryview)) else 0


class RequestWatch:
    """The pump, the app's ``receive``/``send``, and the request's ``AbortController``."""

    __slots__ = (
        "_buffered",
        "_cancel_pump",
        "_changed",
        "_complete",
        "_controller",
        "_deferred",
        "_disconnect",
        "_error",
        "_final_in_flight",
        "_limit",
        "_loop",
        "_messages",
        "_receive",
        "_send",
        "_trailers",
    )

    def __init__(self, receive: Receive, send: Send, loop: EventLoop, *, max_body_buffer: int, defer: bool) -> None:
        self._receive = receive
        self._send = send
        self._loop = loop
        self._limit = max_body_buffer
        self._controller = AbortController()
        self._messages: deque[Message] = deque()
        self._buffered = 0
        self._changed: Event = loop.new_event()
        self._disconnect: Message | None = None
        self._error: Exception | None = None
        self._final_in_flight = False
        self._complete = False
        self._trailers = False
        self._cancel_pump: Callable[[], object] | None = None
        self._deferred = defer

    @property
    def signal(self) -> AbortSignal:
        return self._controller.signal

    # -- lifecycle (the middleware) ----------------------------------------------------------

    def start(self) -> None:
        if not self._deferred:
            self._start_pump()

    def close(self) -> None:
        """The app returned (or raised): stop reading; the signal will not trip any more."""
        self._complete = True
        self._deferred = False
        if self._cancel_pump is not None:
            self._cancel_pump()

    def _start_pump(self) -> None:
        self._deferred = False
        if self._cancel_pump is None and not self._complete:
            self._cancel_pump = self._loop.spawn(self._pump).cancel

    # -- the pump ------------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every waiter (app receivers, a pump waiting for room); they look again."""
        event, self._changed = self._changed, self._loop.new_event()
        event.set()

    async def _pump(self) -> None:
        try:
            while True:
                while self._buffered >= self._limit and self._buffered:
                    await self._changed.wait()
                message = await self._receive()
                if message.get("type") == "http.disconnect":
                    self._disconnect = message
                    self._client_left(ClientDisconnected("client disconnected (http.disconnect)", via="receive"))
                    self._notify()
                    return
                self._messages.append(message)
                self._buffered += _body_size(message)
                self._notify()
        except Exception as exc:  # the server's receive() failed: the app's next receive() raises it
            self._error = exc
            self._notify()

    def _client_left(self, reason: ClientDisconnected) -> None:
        if self._complete or (self._final_in_flight and reason.via == "receive"):
            return  # the response was handed over whole: see the module docstring
        self._controller.abort(reason)

    # -- what the app calls ----------------------------------------------------------------------

    async def receive(self) -> Message:
        if self._deferred:
            self._start_pump()
        while True:
            if self._messages:
                message = self._messages.popleft()
                self._buffered -= _body_size(message)
                self._notify()  # room for a pump waiting on back-pressure
                return message
            if self._disconnect is not None:
                return dict(self._disconnect)
            if self._error is not None:
                raise self._error
            await self._changed.wait()

    async def send(self, message: Message) -> None:
        if self._deferred:
            self._start_pump()
        kind = message.get("type")
        if kind == "http.response.start" and message.get("trailers"):
            self._trailers = True
        final = _is_final(kind, message, self._trailers)
        if final:
            self._final_in_flight = True
        try:
            await self._send(message)
        except OSError as exc:
            error = ClientDisconnected(f"client disconnected (send failed: {exc})", via="send")
            error.__cause__ = exc
            self._final_in_flight = False
            self._client_left(error)
            raise
        finally:
            if final:
                self._final_in_flight = False
                self._complete = True


def _is_final(kind: object, message: Message, trailers: bool) -> bool:
    """Whether ``message`` is the last one of the response (the server then considers it done)."""
    if kind == "http.response.body" or kind == "http.response.zerocopysend":
        return not trailers and not message.get("more_body", False)
    if kind == "http.response.trailers":
        return not message.get("more_trailers", False)
    return kind == "http.response.pathsend"
