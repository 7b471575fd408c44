"""A loopback reverse proxy that holds upstream bytes and handles a client's abort as real proxies do.

Why it exists: behind such a proxy the response *headers* may only reach the client when the
model starts answering, so the long "thinking" wait happens before the SDK call has returned
any response object, and an abort must work in that phase too (``mode="hold_headers"``; the
fully buffered variant is ``"buffer_all"``). And what the *upstream* sees when the client
aborts differs between proxies, which is what users pay for (the model keeps generating until
its connection closes): ``client_abort`` reproduces each behaviour measured here, so that a
test through the proxy passes only where production stops the upstream too.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

import h11

from ._http import MAX_HEAD_SIZE, header_dict, read_request, send_event
from ._net import Channel, PeerGone, wait_readable
from ._records import ProxiedRequest, RecordedRequest
from ._service import LoopbackService

__all__ = ["BufferingProxy", "ClientAbort", "ProxyMode"]

ProxyMode: TypeAlias = Literal["hold_headers", "buffer_all", "passthrough"]
ClientAbort: TypeAlias = Literal["propagate", "after_headers", "ignore"]

_MODES = ("hold_headers", "buffer_all", "passthrough")
_CLIENT_ABORTS = ("propagate", "after_headers", "ignore")

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)


class _UpstreamGone(Exception):
    """The upstream failed or went away mid-exchange; ``reset`` says whether it sent an RST."""

    def __init__(self, reset: bool) -> None:
        super().__init__("upstream gone")
        self.reset = reset


@dataclass
class _Upstream:
    channel: Channel
    conn: h11.Connection


class BufferingProxy(LoopbackService):
    """A reverse proxy on loopback: clients use its base URL as their API base URL.

    ``mode``, when bytes reach the client:

    * ``"hold_headers"`` (default): nothing reaches the client until the upstream sends its first
      body byte after the headers (the client waits for headers while the model thinks), as
      LiteLLM proxy does;
    * ``"buffer_all"``: nothing reaches the client until the upstream response is complete,
      then it is sent with a ``content-length``;
    * ``"passthrough"``: bytes are relayed as they come (nginx with ``proxy_buffering off``).

    ``client_abort``, what the upstream sees when the client leaves (figures measured here, with
    real proxies in front of a loopback upstream):

    * ``"propagate"`` (default): the proxy watches the client in every phase and closes its
      upstream connection at once (here about 1 ms). nginx with its default
      ``proxy_ignore_client_abort off`` does this, within ~1 ms in every phase.
    * ``"after_headers"``: LiteLLM proxy 1.108. Until the proxy has sent the client its response
      headers (in ``"hold_headers"`` mode: until the upstream's first token), nobody watches the
      client: an abort in that window leaves the upstream request running until its first body
      byte arrives; the proxy then finds the client gone and closes it (LiteLLM: 4.8 s after the
      abort in a 5 s "thinking" test, on its openai and anthropic routes). Once the headers went
      out, an abort closes the upstream at once (LiteLLM: ~3-5 ms).
    * ``"ignore"``: nginx with ``proxy_ignore_client_abort on``. The upstream response is read to
      its end whatever the client does (and thrown away once the client is gone); the upstream
      never sees the abort.

    ``BufferingProxy.litellm(url)`` and ``BufferingProxy.nginx(url)`` build those combinations.
    The proxy's own records (:class:`~abortkit.testing.ProxiedRequest`) say when *it* noticed
    the client leave (``disconnected_at``); the upstream server's records say when the upstream
    connection closed.

    An upstream that resets or dies mid-response makes the proxy reset the client connection. For
    an HTTPS upstream pass ``upstream_ssl_context`` (e.g. ``server.ssl_context()``); ``tls=True``
    makes the proxy itself speak HTTPS with its own throwaway CA.
    """

    def __init__(
        self,
        upstream_base_url: str,
        *,
        mode: ProxyMode = "hold_headers",
        client_abort: ClientAbort = "propagate",
        tls: bool = False,
        upstream_ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if not isinstance(upstream_base_url, str):
            raise TypeError(
                f"BufferingProxy(upstream_base_url=...) must be a str, not {type(upstream_base_url).__name__}"
            )
        if not isinstance(mode, str):
            raise TypeError(f"BufferingProxy(mode=...) must be a str, one of {_MODES}, not {type(mode).__name__}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        if not isinstance(client_abort, str):
            raise TypeError(
                f"BufferingProxy(client_abort=...) must be a str, one of {_CLIENT_ABORTS}, "
                f"not {type(client_abort).__name__}"
            )
        if client_abort not in _CLIENT_ABORTS:
            raise ValueError(f"client_abort must be one of {_CLIENT_ABORTS}, got {client_abort!r}")
        if upstream_ssl_context is not None and not isinstance(upstream_ssl_context, ssl.SSLContext):
            raise TypeError(
                "BufferingProxy(upstream_ssl_context=...) must be an ssl.SSLContext or None, "
                f"not {type(upstream_ssl_context).__name__}"
            )
        parts = urlsplit(upstream_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {upstream_base_url!r}")
        try:
            up_port = parts.port
        except ValueError as exc:  # "Port out of range 0-65535", "Port could not be cast ..."
            raise ValueError(f"upstream_base_url has a bad port: {upstream_base_url!r} ({exc})") from None
        super().__init__(tls=tls, host=host)
        self.mode: ProxyMode = mode
        self.client_abort: ClientAbort = client_abort
        self.upstream_base_url = upstream_base_url
        self._up_host = parts.hostname
        self._up_port = up_port or (443 if parts.scheme == "https" else 80)
        self._up_netloc = parts.netloc
        self._up_prefix = parts.path.rstrip("/")
        self._up_ctx: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._up_ctx = upstream_ssl_context or ssl.create_default_context()

    @classmethod
    def litellm(cls, upstream_base_url: str, **options: Any) -> BufferingProxy:
        """Like LiteLLM proxy 1.108: headers held until the first token, and a client's abort in
        that window not passed upstream until then (``mode="hold_headers"``,
        ``client_abort="after_headers"``)."""
        return cls(upstream_base_url, mode="hold_headers", client_abort="after_headers", **options)

    @classmethod
    def nginx(cls, upstream_base_url: str, *, ignore_client_abort: bool = False, **options: Any) -> BufferingProxy:
        """Like nginx set up for streaming (``proxy_buffering off``): bytes relayed as they come;
        a client's abort closes the upstream at once, or never with ``ignore_client_abort=True``
        (nginx's ``proxy_ignore_client_abort on``)."""
        if ignore_client_abort is not True and ignore_client_abort is not False:
            raise TypeError(
                f"BufferingProxy.nginx(ignore_client_abort=...) must be a bool, not {type(ignore_client_abort).__name__}"
            )
        options.setdefault("mode", "passthrough")
        return cls(upstream_base_url, client_abort="ignore" if ignore_client_abort else "propagate", **options)

    @property
    def requests(self) -> list[ProxiedRequest]:  # type: ignore[override]
        """A snapshot of every request relayed so far, in arrival order."""
        return [r for r in self._log.snapshot() if isinstance(r, ProxiedRequest)]

    # -- serving ---------------------------------------------------------------------------

    def _dial(self) -> _Upstream:
        assert self._wake is not None
        try:
            channel = Channel.connect(self._up_host, self._up_port, self._wake)
        except (PeerGone, OSError) as exc:
            raise _UpstreamGone(reset=False) from exc
        try:
            if self._up_ctx is not None:
                channel.start_tls(self._up_ctx, server_side=False, server_hostname=self._up_host)
        except PeerGone as exc:
            channel.close()
            raise _UpstreamGone(reset=False) from exc
        return _Upstream(channel, h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_SIZE))

    def _serve(self, channel: Channel, conn_id: int) -> None:
        down = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_SIZE)
        upstream: _Upstream | None = None
        last: RecordedRequest | None = None
        try:
            while True:
                try:
                    request, body = read_request(channel, down)
                except h11.RemoteProtocolError:
                    return
                target = request.target.decode("latin-1")
                last = ProxiedRequest(
                    method=request.method.decode("latin-1"),
                    path=urlsplit(target).path,
                    headers=header_dict(request.headers),
                    body=body,
                    received_at=time.monotonic(),
                    connection_id=conn_id,
                )
                self._log.add(last)
                try:
                    if upstream is None:
                        upstream = self._dial()
                    self._relay(channel, down, upstream, request, body, last)
                except _UpstreamGone as gone:
                    self._upstream_failed(channel, down, gone)
                    return
                if upstream.conn.our_state is h11.DONE and upstream.conn.their_state is h11.DONE:
                    upstream.conn.start_next_cycle()
                else:
                    upstream.channel.close()
                    upstream = None
                if down.our_state is not h11.DONE or down.their_state is not h11.DONE:
                    return
                down.start_next_cycle()
        except PeerGone as gone:
            if self._wake is not None and not self._wake.tripped:
                self._log.mark_disconnected(last, gone.at)
        finally:
            # Closing the upstream here is what carries a client's disconnect to the server.
            if upstream is not None:
                upstream.channel.close()

    def _upstream_failed(self, channel: Channel, down: h11.Connection, gone: _UpstreamGone) -> None:
        if gone.reset or down.our_state is not h11.SEND_RESPONSE:
            channel.reset()
            return
        body = b'{"error":{"message":"upstream unavailable","type":"bad_gateway"}}'
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        send_event(channel, down, h11.Response(status_code=502, headers=headers))
        send_event(channel, down, h11.Data(data=body))
        send_event(channel, down, h11.EndOfMessage())

    def _forward_request(self, upstream: _Upstream, request: h11.Request, body: bytes) -> None:
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        headers.insert(0, (b"host", self._up_netloc.encode("latin-1")))
        headers.append((b"content-length", str(len(body)).encode()))
        target = self._up_prefix.encode("latin-1") + request.target
        try:
            for event in (
                h11.Request(method=request.method, target=target, headers=headers),
                h11.Data(data=body),
                h11.EndOfMessage(),
            ):
                send_event(upstream.channel, upstream.conn, event)
        except PeerGone as exc:
            raise _UpstreamGone(reset=False) from exc

    def _next_upstream_event(self, client: Channel, upstream: _Upstream, *, watch_client: bool) -> h11.Event:
        """The upstream's next event, while watching the client for a disconnect if asked to."""
        assert self._wake is not None
        conn = upstream.conn
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _UpstreamGone(reset=False) from exc
            if event is not h11.NEED_DATA:
                assert event is not h11.PAUSED
                assert isinstance(event, h11.Event)
                return event
            watched = [client, upstream.channel] if watch_client else [upstream.channel]
            ready = wait_readable(watched, self._wake, None, count_stash=False)
            if client in ready:
                data = client.recv_nowait()  # raises PeerGone when the client has left
                if data:
                    client.stash(data)  # a pipelined next request
            if upstream.channel in ready:
                try:
                    chunk = upstream.channel.recv_nowait()
                except PeerGone as exc:
                    if exc.reset:
                        raise _UpstreamGone(reset=True) from exc
                    chunk = b""
                if chunk is not None:
                    conn.receive_data(chunk)  # b"" tells h11 the upstream closed

    def _relay(
        self,
        client: Channel,
        down: h11.Connection,
        upstream: _Upstream,
        request: h11.Request,
        body: bytes,
        record: ProxiedRequest,
    ) -> None:
        self._forward_request(upstream, request, body)
        mode = self.mode
        policy = self.client_abort
        held: h11.Response | None = None
        buffered = bytearray()
        headers_sent = False
        client_gone: PeerGone | None = None  # "ignore": the client left; the upstream runs on

        def deliver(event: h11.Event) -> None:
            nonlocal client_gone
            if client_gone is not None:
                return  # thrown away: nobody is listening
            try:
                send_event(client, down, event)
            except PeerGone as gone:
                if policy != "ignore":
                    raise
                client_gone = gone
                self._log.mark_disconnected(record, gone.at)

        def send_head(response: h11.Response, content_length: int | None) -> None:
            nonlocal headers_sent
            headers = [(k, v) for k, v in response.headers if k.lower() not in _HOP_BY_HOP]
            upstream_length = header_dict(response.headers).get("content-length")
            if content_length is not None:
                headers.append((b"content-length", str(content_length).encode()))
            elif upstream_length is not None:
                headers.append((b"content-length", upstream_length.encode()))
            else:
                headers.append((b"transfer-encoding", b"chunked"))
            self._log.update(record, responded_headers_at=time.monotonic())
            headers_sent = True
            deliver(h11.Response(status_code=response.status_code, headers=headers, reason=response.reason))

        while True:
            # Who watches the client while the upstream is quiet: see the class docstring.
            watch = policy == "propagate" or (policy == "after_headers" and headers_sent)
            event = self._next_upstream_event(client, upstream, watch_client=watch)
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                self._log.update(record, upstream_headers_at=time.monotonic())
                if mode == "passthrough":
                    send_head(event, None)
                else:
                    held = event
            elif isinstance(event, h11.Data):
                if not event.data:
                    continue
                if record.upstream_first_body_at is None:
                    self._log.update(record, upstream_first_body_at=time.monotonic())
                if mode == "buffer_all":
                    buffered += event.data
                    continue
                if held is not None:
                    send_head(held, None)
                    held = None
                    if policy == "after_headers":
                        self._client_still_there(client)  # the first look at the client since the request
                deliver(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                if held is not None:
                    send_head(held, len(buffered) if mode == "buffer_all" else None)
                    held = None
                if buffered:
                    deliver(h11.Data(data=bytes(buffered)))
                self._log.update(record, finished_at=time.monotonic(), completed=client_gone is None)
                deliver(h11.EndOfMessage())
                if client_gone is not None:
                    raise client_gone  # the upstream response was read to its end; now drop the client
                return
            else:  # ConnectionClosed before the response ended
                raise _UpstreamGone(reset=False)

    @staticmethod
    def _client_still_there(client: Channel) -> None:
        """Raise ``PeerGone`` if the client has already closed or reset (no wait)."""
        if wait_readable([client], client.wake, time.monotonic(), count_stash=False):
            data = client.recv_nowait()
            if data:
                client.stash(data)
