"""The loopback mock LLM server: real HTTP/1.1 over real sockets, answering from scripts.

Why a real server rather than a mocked transport: abortkit's claim is about sockets (a consumer
blocked in ``recv`` must wake within milliseconds, the connection must really close, nothing
must retry behind the caller's back). Only a real listener on loopback, reached through the
SDK's own HTTP stack (and TLS), tests that claim. The server records what it saw with monotonic
timestamps, including the moment the client hung up, so tests can assert both sides.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from urllib.parse import urlsplit

import h11

from ._http import MAX_HEAD_SIZE, header_dict, read_request, send_event
from ._net import Channel, PeerGone
from ._records import RecordedRequest
from ._render import End, Head, Hold, Pause, Write, render
from ._routes import OPENAI_CHAT, find_route
from ._script import HTTPError, Script, ScriptLike
from ._service import LoopbackService

__all__ = ["MockLLMServer"]


class MockLLMServer(LoopbackService):
    """A scripted LLM endpoint on ``127.0.0.1`` with an ephemeral port, in every dialect at once.

    Dialects (chosen by path, see ``_routes.py``; other paths get a 404 and consume no script):
    OpenAI chat completions and Responses (:attr:`openai_base_url`), Anthropic
    (:attr:`anthropic_base_url`) and Minimax (:attr:`minimax_base_url`), Gemini
    ``generateContent``/``streamGenerateContent`` (:attr:`gemini_base_url`), Ollama ``/api/chat``
    (:attr:`ollama_base_url`) and Bedrock ``converse``/``converse-stream``
    (:attr:`bedrock_base_url`).

    Usage::

        with MockLLMServer() as server:
            server.enqueue(Script.thinking_gap(gap=3.0))
            client = openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
            ...
            (request,) = server.requests
            assert server.wait_for_disconnect(request, 1.0) is not None

    Each request to a model endpoint takes the next queued script (:meth:`enqueue`), or
    :attr:`default_script` when the queue is empty, and is answered in the request's dialect,
    streamed if the body says ``"stream": true`` (or the path says so: Gemini, Bedrock; Ollama
    streams unless the body says ``"stream": false``). With ``tls=True`` the server speaks HTTPS with
    a certificate from a throwaway CA (see :meth:`ssl_context`, :attr:`ca_cert_pem_path`).
    """

    def __init__(self, *, tls: bool = False, host: str = "127.0.0.1", default_script: ScriptLike | None = None) -> None:
        if default_script is not None and not isinstance(default_script, (Script, HTTPError)):
            raise TypeError(
                f"MockLLMServer(default_script=...) must be a Script, an HTTPError or None, "
                f"not {type(default_script).__name__}"
            )
        super().__init__(tls=tls, host=host)
        self._queue: deque[ScriptLike] = deque()
        self._queue_lock = threading.Lock()
        self._seq = itertools.count(1)
        self.default_script: ScriptLike = default_script if default_script is not None else Script.simple()
        """Used when the queue is empty: a short normal reply unless replaced."""

    # -- scripts ---------------------------------------------------------------------------

    def enqueue(self, *scripts: ScriptLike) -> None:
        """Queue scripts; each model request consumes the next one, in order."""
        for script in scripts:
            if not isinstance(script, (Script, HTTPError)):
                raise TypeError(f"not a Script or HTTPError: {script!r}")
        with self._queue_lock:
            self._queue.extend(scripts)

    @property
    def pending_scripts(self) -> int:
        """How many queued scripts no request has consumed yet."""
        with self._queue_lock:
            return len(self._queue)

    def _take_script(self) -> ScriptLike:
        with self._queue_lock:
            return self._queue.popleft() if self._queue else self.default_script

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, channel: Channel, conn_id: int) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
        last: RecordedRequest | None = None
        try:
            while True:
                try:
                    request, body = read_request(channel, conn)
                except h11.RemoteProtocolError:
                    self._bad_request(channel, conn)
                    return
                target = request.target.decode("latin-1")
                last = RecordedRequest(
                    method=request.method.decode("latin-1"),
                    path=urlsplit(target).path,
                    headers=header_dict(request.headers),
                    body=body,
                    received_at=time.monotonic(),
                    connection_id=conn_id,
                )
                self._log.add(last)
                if not self._respond(channel, conn, last):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # h11 says the connection cannot be reused (e.g. "Connection: close")
                conn.start_next_cycle()
        except PeerGone as gone:
            if self._wake is not None and not self._wake.tripped:
                self._log.mark_disconnected(last, gone.at)

    def _bad_request(self, channel: Channel, conn: h11.Connection) -> None:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = b'{"error":{"message":"bad request","type":"invalid_request_error"}}'
            headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
            send_event(channel, conn, h11.Response(status_code=400, headers=headers))
            send_event(channel, conn, h11.Data(data=body))
            send_event(channel, conn, h11.EndOfMessage())

    def _respond(self, channel: Channel, conn: h11.Connection, record: RecordedRequest) -> bool:
        """Answer one request; False when the connection must not be used again."""
        route = find_route(record.path)
        if route is None or record.method != "POST":
            status = 404 if route is None else 405
            body = OPENAI_CHAT.error_body(status, f"no mock endpoint for {record.method} {record.path}")
            headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
            events: tuple[h11.Event, ...] = (
                h11.Response(status_code=status, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            )
            data = b"".join(conn.send(event) or b"" for event in events)
            now = time.monotonic()
            self._log.update(record, responded_headers_at=now, finished_at=now, completed=True)
            channel.send_all(data)
            return True
        script = self._take_script()
        stream = route.streams(record.json)
        self._log.update(record, dialect=route.name, stream=stream, script=script)
        # Bytes are written when the next operation needs them out, not one by one: the head
        # leaves with the first chunk and the last chunk with the end of the chunked body, so an
        # SDK that stops reading at `[DONE]` still got a complete message (the connection stays
        # reusable). Every step is still its own write, flushed before any wait.
        pending = bytearray()
        head_in_pending = False

        # Waits are timed from the end of the previous write (or from the request's arrival),
        # not from when the next operation happens to be processed.
        anchor = record.received_at

        def flush(*, last: bool = False) -> None:
            # Records are updated just *before* the write, so a client that has the bytes
            # can rely on them (a failed final write takes `completed` back).
            nonlocal head_in_pending, anchor
            now = time.monotonic()
            if head_in_pending:
                head_in_pending = False
                self._log.update(record, responded_headers_at=now)
            if last:
                self._log.update(record, finished_at=now, completed=True)
            if pending:
                try:
                    channel.send_all(bytes(pending))
                except PeerGone:
                    if last:
                        self._log.update(record, completed=False)
                    raise
                pending.clear()
                anchor = time.monotonic()

        previous_was_write = False
        for op in render(script, route.dialect, record.json, seq=next(self._seq), stream=stream, model=route.model):
            if isinstance(op, Head):
                flush()
                pending += conn.send(h11.Response(status_code=op.status, headers=list(op.headers))) or b""
                head_in_pending = True
            elif isinstance(op, Write):
                if previous_was_write:
                    flush()
                if op.data:
                    pending += conn.send(h11.Data(data=op.data)) or b""
            elif isinstance(op, End):
                pending += conn.send(h11.EndOfMessage()) or b""
                flush(last=True)
                break
            else:
                flush()
                if isinstance(op, Pause):
                    anchor = self._pause(channel, conn, op, anchor)
                elif isinstance(op, Hold):
                    channel.watch_until(None)
                else:
                    channel.reset()
                    self._log.update(record, finished_at=time.monotonic())
                    return False
            previous_was_write = isinstance(op, Write)
        return True

    @staticmethod
    def _pause(channel: Channel, conn: h11.Connection, op: Pause, start: float) -> float:
        """Hold until ``start + op.seconds``, writing keepalives on a fixed schedule if asked.

        Deadlines are absolute (monotonic), so keepalive writes do not stretch the gap.
        Returns the deadline, which is where the next wait is timed from.
        """
        deadline = start + op.seconds
        if op.keepalive is not None and op.every is not None:
            k = 1
            while (due := start + k * op.every) < deadline:
                channel.watch_until(due)
                send_event(channel, conn, h11.Data(data=op.keepalive))
                k += 1
        channel.watch_until(deadline)
        return deadline
