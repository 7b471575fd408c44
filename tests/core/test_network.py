"""The network layer (``abortkit._network``) against fake httpcore backends and streams.

Unit tests of its logic: every argument passed through, only bytes counting as watchdog
progress, the abort's reason and the transport error chained, the socket shut down unless
multiplexed, connects not attempted under a tripped signal, closed when they complete after
an abort or were abandoned, run on the caller's thread or task unless scoped; and
``instrument``'s errors. The real SDKs on real loopback sockets are in ``tests/io``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from abortkit import AbortController, AbortError, IdleWatchdog
from tests._helpers.network_fakes import FakeAsyncBackend, FakeAsyncStream, FakeBackend, FakeStream
from tests._helpers.waiting import wait_for


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_sync_stream_passes_every_argument_through(scoped: bool) -> None:
    from abortkit import abort_scope
    from abortkit._network import AbortableNetworkStream

    inner = FakeStream()
    stream = AbortableNetworkStream(inner)
    with abort_scope(AbortController().signal if scoped else None):
        assert stream.read(17, 1.5) == b"data"
        stream.write(b"payload", 2.5)
        tls = stream.start_tls("ctx", "example.org", 3.5)
    assert inner.calls == [("read", 17, 1.5), ("write", b"payload", 2.5), ("start_tls", "ctx", "example.org", 3.5)]
    assert isinstance(tls, AbortableNetworkStream) and tls._inner.data == b"tls"
    assert stream.custom == "passed through"  # anything else goes to the inner stream
    assert stream.get_extra_info("socket") is None
    stream.close()
    assert inner.closed


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_async_stream_passes_every_argument_through(scoped: bool) -> None:
    from abortkit import abort_scope
    from abortkit._network import AbortableAsyncNetworkStream

    inner = FakeAsyncStream()
    stream = AbortableAsyncNetworkStream(inner)

    async def main() -> Any:
        async with abort_scope(AbortController().signal if scoped else None):
            assert await stream.read(17, 1.5) == b"data"
            await stream.write(b"payload", 2.5)
            tls = await stream.start_tls("ctx", "example.org", 3.5)
        await stream.aclose()
        return tls

    tls = asyncio.run(main())
    assert inner.calls == [("read", 17, 1.5), ("write", b"payload", 2.5), ("start_tls", "ctx", "example.org", 3.5)]
    assert isinstance(tls, AbortableAsyncNetworkStream) and tls._inner.data == b"tls"
    assert inner.closed


@pytest.mark.found_by_mutation
def test_only_bytes_count_as_progress_for_watchdogs() -> None:
    from abortkit._network import AbortableAsyncNetworkStream, AbortableNetworkStream

    empty, full = AbortableNetworkStream(FakeStream(b"")), AbortableNetworkStream(FakeStream(b"x"))
    async_empty = AbortableAsyncNetworkStream(FakeAsyncStream(b""))
    async_full = AbortableAsyncNetworkStream(FakeAsyncStream(b"x"))
    with IdleWatchdog(60) as dog:
        dog._last = 0.0
        empty.read(10)
        asyncio.run(async_empty.read(10))
        assert dog._last == 0.0, "an empty read (EOF) counted as progress"
        full.read(10)
        assert dog._last > 0.0
        dog._last = 0.0
        asyncio.run(async_full.read(10))
        assert dog._last > 0.0


def _abort_during(inner: FakeStream, controller: AbortController, error: BaseException | None = None) -> None:
    def during() -> None:
        controller.abort("esc")
        if error is not None:
            raise error

    inner.during = during


@pytest.mark.found_by_mutation
def test_sync_stream_abort_during_a_call_unwinds_with_the_reason_and_the_cause() -> None:
    from abortkit import abort_scope
    from abortkit._errors import AbortUnwind
    from abortkit._network import AbortableNetworkStream

    controller = AbortController()
    inner = FakeStream()
    stream = AbortableNetworkStream(inner)
    failure = OSError("bad file descriptor")
    _abort_during(inner, controller, failure)
    with abort_scope(controller.signal), pytest.raises(AbortUnwind) as caught:
        stream.read(10)
    assert caught.value.reason == "esc"
    assert caught.value.__cause__ is failure
    # Bytes that arrive after the abort are not handed over.
    controller = AbortController()
    _abort_during(inner, controller)
    with abort_scope(controller.signal), pytest.raises(AbortUnwind) as caught:
        stream.read(10)
    assert caught.value.reason == "esc" and caught.value.__cause__ is None
    assert controller.signal.listener_count == 0


@pytest.mark.found_by_mutation
def test_async_stream_abort_during_a_call_unwinds_with_the_reason_and_the_cause() -> None:
    from abortkit import abort_scope
    from abortkit._errors import AbortUnwind
    from abortkit._network import AbortableAsyncNetworkStream

    controller = AbortController()
    inner = FakeAsyncStream()
    stream = AbortableAsyncNetworkStream(inner)
    failure = OSError("bad file descriptor")
    _abort_during(inner, controller, failure)

    async def main() -> Any:
        async with abort_scope(controller.signal):
            with pytest.raises(AbortUnwind) as caught:
                await stream.read(10)
        return caught

    caught = asyncio.run(main())
    assert caught.value.reason == "esc"
    assert caught.value.__cause__ is failure


@pytest.mark.found_by_mutation
def test_an_error_without_abort_passes_unchanged_through_the_stream() -> None:
    from abortkit import abort_scope
    from abortkit._network import AbortableNetworkStream

    inner = FakeStream()
    stream = AbortableNetworkStream(inner)
    failure = OSError("reset")

    def fail() -> None:
        raise failure

    inner.during = fail
    with abort_scope(AbortController().signal), pytest.raises(OSError) as caught:
        stream.read(10)
    assert caught.value is failure


@pytest.mark.found_by_mutation
def test_the_abort_shuts_the_socket_down_unless_the_connection_is_multiplexed() -> None:
    import socket

    from abortkit import abort_scope
    from abortkit._errors import AbortUnwind
    from abortkit._network import AbortableNetworkStream

    for alpn, expect_shutdown in ((None, True), ("http/1.1", True), ("h2", False)):
        ours, peer = socket.socketpair()
        try:
            controller = AbortController()
            inner = FakeStream(sock=ours, alpn=alpn)
            stream = AbortableNetworkStream(inner)
            _abort_during(inner, controller)
            with abort_scope(controller.signal):
                if expect_shutdown:
                    with pytest.raises(AbortUnwind):
                        stream.read(10)
                else:  # HTTP/2: the bytes may be other streams' frames, handed over...
                    assert stream.read(10) == b"data"
                    with pytest.raises(AbortUnwind):  # ...and the aborted request stops at its next call
                        stream.read(10)
                    assert len(inner.calls) == 1
            peer.settimeout(0.3)
            if expect_shutdown:
                assert peer.recv(10) == b"", f"alpn={alpn}: the peer did not see the shutdown"
            else:
                with pytest.raises(TimeoutError):
                    peer.recv(10)
        finally:
            ours.close()
            peer.close()


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("method", ["connect_tcp", "connect_unix_socket"])
@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_sync_backend_passes_connect_arguments_through(method: str, scoped: bool) -> None:
    from abortkit import AbortableNetworkBackend, abort_scope
    from abortkit._network import AbortableNetworkStream

    inner = FakeBackend()
    backend = AbortableNetworkBackend(inner)
    assert backend.inner is inner
    with abort_scope(AbortController().signal if scoped else None):
        stream = getattr(backend, method)("host", 443, timeout=5.0)
    assert isinstance(stream, AbortableNetworkStream) and stream._inner is inner.stream
    assert inner.calls == [("tcp" if method == "connect_tcp" else "unix", ("host", 443), {"timeout": 5.0})]
    backend.sleep(0.25)
    assert inner.calls[-1] == ("sleep", 0.25)


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("method", ["connect_tcp", "connect_unix_socket"])
@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_async_backend_passes_connect_arguments_through(method: str, scoped: bool) -> None:
    from abortkit import AbortableAsyncNetworkBackend, abort_scope
    from abortkit._network import AbortableAsyncNetworkStream

    inner = FakeAsyncBackend(FakeAsyncStream())
    backend = AbortableAsyncNetworkBackend(inner)
    assert backend.inner is inner

    async def main() -> Any:
        async with abort_scope(AbortController().signal if scoped else None):
            stream = await getattr(backend, method)("host", 443, timeout=5.0)
        await backend.sleep(0.25)
        return stream

    stream = asyncio.run(main())
    assert isinstance(stream, AbortableAsyncNetworkStream) and stream._inner is inner.stream
    assert inner.calls == [
        ("tcp" if method == "connect_tcp" else "unix", ("host", 443), {"timeout": 5.0}),
        ("sleep", 0.25),
    ]


@pytest.mark.found_by_mutation
def test_sync_connect_under_a_tripped_signal_is_not_attempted() -> None:
    from abortkit import AbortableNetworkBackend, _scope
    from abortkit._errors import AbortUnwind

    controller = AbortController()
    controller.abort("esc")
    inner = FakeBackend()
    token = _scope.enter((controller.signal,))  # as inside an enclosing scope (whose entry would raise)
    try:
        with pytest.raises(AbortUnwind) as caught:
            AbortableNetworkBackend(inner).connect_tcp("host", 443)
    finally:
        _scope.restore(token)
    assert caught.value.reason == "esc"
    assert inner.calls == []


@pytest.mark.found_by_mutation
def test_async_connect_under_a_tripped_signal_is_not_attempted() -> None:
    from abortkit import AbortableAsyncNetworkBackend, _scope
    from abortkit._errors import AbortUnwind

    controller = AbortController()
    controller.abort("esc")
    inner = FakeAsyncBackend(FakeAsyncStream())

    async def main() -> None:
        _scope.enter((controller.signal,))
        await AbortableAsyncNetworkBackend(inner).connect_tcp("host", 443)

    with pytest.raises(AbortUnwind) as caught:
        asyncio.run(main())
    assert caught.value.reason == "esc"
    assert inner.calls == []


@pytest.mark.found_by_mutation
def test_sync_connect_completing_after_the_abort_is_closed() -> None:
    from abortkit import AbortableNetworkBackend, abort_scope
    from abortkit._errors import AbortUnwind

    controller = AbortController()
    inner = FakeBackend()
    inner.during = lambda: controller.abort("esc")
    with abort_scope(controller.signal), pytest.raises(AbortUnwind) as caught:
        AbortableNetworkBackend(inner).connect_tcp("host", 443)
    assert caught.value.reason == "esc"
    assert wait_for(lambda: inner.stream.closed), "the connection made under a tripped signal was left open"


@pytest.mark.found_by_mutation
def test_async_connect_completing_after_the_abort_is_closed() -> None:
    from abortkit import AbortableAsyncNetworkBackend, abort_scope
    from abortkit._errors import AbortUnwind

    controller = AbortController()
    inner = FakeAsyncBackend(FakeAsyncStream())
    inner.during = lambda: controller.abort("esc")

    async def main() -> None:
        async with abort_scope(controller.signal):
            await AbortableAsyncNetworkBackend(inner).connect_tcp("host", 443)

    with pytest.raises(AbortError) as caught:  # the scope translates the unwind
        asyncio.run(main())
    assert caught.value.reason == "esc"
    assert isinstance(caught.value.__cause__, AbortUnwind)
    assert inner.stream.closed


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_a_failing_connect_raises_its_own_error(scoped: bool) -> None:
    from abortkit import AbortableNetworkBackend, abort_scope

    failure = ConnectionRefusedError("refused")
    inner = FakeBackend(error=failure)
    with abort_scope(AbortController().signal if scoped else None), pytest.raises(ConnectionRefusedError) as caught:
        AbortableNetworkBackend(inner).connect_tcp("host", 443)
    assert caught.value is failure


@pytest.mark.found_by_mutation
def test_a_connect_abandoned_on_abort_is_closed_when_it_completes() -> None:
    from abortkit import AbortableNetworkBackend, abort_scope
    from abortkit._errors import AbortUnwind

    controller = AbortController()
    release = threading.Event()
    inner = FakeBackend()
    inner.during = lambda: release.wait(5)
    errors: list[BaseException] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)  # type: ignore[assignment]
    try:
        threading.Timer(0.05, controller.abort, ("esc",)).start()
        started = time.monotonic()
        with abort_scope(controller.signal), pytest.raises(AbortUnwind) as caught:
            AbortableNetworkBackend(inner).connect_tcp("host", 443)
        assert time.monotonic() - started < 2.0, "the abort did not wake the caller blocked in connect"
        assert caught.value.reason == "esc"
        assert not inner.stream.closed
        release.set()
        assert wait_for(lambda: inner.stream.closed), "the abandoned connection was never closed"
        # The same, for a connect that fails after being abandoned: nothing to close, nothing raised.
        controller = AbortController()
        release.clear()
        failing = FakeBackend(error=ConnectionResetError("late"))
        failing.during = lambda: release.wait(5)
        threading.Timer(0.05, controller.abort, ("esc",)).start()
        with abort_scope(controller.signal), pytest.raises(AbortUnwind):
            AbortableNetworkBackend(failing).connect_tcp("host", 443)
        release.set()
        time.sleep(0.1)
    finally:
        threading.excepthook = previous_hook
    assert not errors, f"the connect helper thread raised: {errors}"


@pytest.mark.found_by_mutation
def test_async_connect_cancelled_by_the_abort_chains_the_cancellation() -> None:
    from abortkit import AbortableAsyncNetworkBackend, abort_scope

    controller = AbortController()

    class Hanging(FakeAsyncBackend):
        async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(("tcp", args, kwargs))
            await asyncio.sleep(10)

    inner = Hanging()

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, controller.abort, "esc")
        async with abort_scope(controller.signal):
            await AbortableAsyncNetworkBackend(inner).connect_tcp("host", 443)

    started = time.monotonic()
    with pytest.raises(AbortError) as caught:
        asyncio.run(main())
    assert time.monotonic() - started < 2.0
    unwind = caught.value.__cause__
    assert unwind is not None and isinstance(unwind.__cause__, asyncio.CancelledError)


@pytest.mark.found_by_mutation
def test_the_network_layer_shares_one_interrupter_per_stream() -> None:
    import socket

    from abortkit import abort_scope
    from abortkit._eventloop import running_loop
    from abortkit._network import AbortableAsyncNetworkStream, AbortableNetworkStream
    from abortkit._sockets import SocketInterrupter, interrupter_for

    ours, peer = socket.socketpair()
    try:
        stream = AbortableNetworkStream(FakeStream(sock=ours))
        assert stream.get_extra_info("socket") is ours
        assert interrupter_for(stream) is stream.interrupter
        fresh = interrupter_for(FakeStream(sock=ours))
        assert isinstance(fresh, SocketInterrupter) and fresh is not stream.interrupter
    finally:
        ours.close()
        peer.close()

    async def main() -> None:
        inner = FakeAsyncStream()
        async_stream = AbortableAsyncNetworkStream(inner)
        async with abort_scope(AbortController().signal):
            await async_stream.read(1)
            first = async_stream._on_abort
            await async_stream.read(1)
        assert first is not None and async_stream._on_abort is first, "the loop handle is captured once per stream"
        assert running_loop() is not None

    asyncio.run(main())
    assert running_loop() is None


@pytest.mark.found_by_mutation
def test_connects_run_on_the_callers_thread_or_task_unless_scoped() -> None:
    from abortkit import AbortableAsyncNetworkBackend, AbortableNetworkBackend, abort_scope

    where: list[threading.Thread] = []
    inner = FakeBackend()
    inner.during = lambda: where.append(threading.current_thread())
    backend = AbortableNetworkBackend(inner)
    backend.connect_tcp("host", 443)
    assert where[-1] is threading.current_thread(), "an unscoped connect left the caller's thread"
    with abort_scope(AbortController().signal):
        backend.connect_tcp("host", 443)
    helper = where[-1]
    assert helper is not threading.current_thread()
    assert helper.name == "abortkit-connect" and helper.daemon

    tasks: list[Any] = []
    async_inner = FakeAsyncBackend(FakeAsyncStream())
    async_inner.during = lambda: tasks.append(asyncio.current_task())

    async def main() -> Any:
        await AbortableAsyncNetworkBackend(async_inner).connect_tcp("host", 443)
        return asyncio.current_task()

    caller = asyncio.run(main())
    assert tasks == [caller], "an unscoped async connect was moved to another task"


@pytest.mark.found_by_mutation
def test_network_backend_and_instrument_errors_word_for_word() -> None:
    import httpx2

    from abortkit import AbortableAsyncNetworkBackend, AbortableNetworkBackend, instrument

    for cls in (AbortableNetworkBackend, AbortableAsyncNetworkBackend):
        with pytest.raises(TypeError) as caught:
            cls(None)
        assert str(caught.value) == f"{cls.__name__} wraps an httpcore network backend (with connect_tcp), not NoneType"
        with pytest.raises(TypeError) as caught:
            cls(42)
        assert str(caught.value) == f"{cls.__name__} wraps an httpcore network backend (with connect_tcp), not int"

    class PoolWithoutBackend:
        pass

    class Transport(httpx2.BaseTransport):
        def __init__(self) -> None:
            self._pool = PoolWithoutBackend()

    client = httpx2.Client(transport=Transport())
    with pytest.raises(TypeError) as caught:
        instrument(client)
    assert str(caught.value) == (
        "instrument(): cannot reach the connection pool of a Transport; "
        "it needs httpx's or httpx2's HTTPTransport/AsyncHTTPTransport (or a subclass)"
    )
    assert not hasattr(client._transport._pool, "_network_backend")

    plain = httpx2.Client()
    plain._client = "not an http client"  # an unrelated attribute of that name: not an SDK client
    assert instrument(plain) is plain
    assert isinstance(plain._transport._pool._network_backend, AbortableNetworkBackend)


@pytest.mark.found_by_mutation
def test_instrument_a_client_without_mounts() -> None:
    import httpx2

    from abortkit import AbortableNetworkBackend, instrument

    class MinimalClient:  # an httpx-like client with a transport and no mounts at all
        def __init__(self) -> None:
            self._transport = httpx2.HTTPTransport()

    client = MinimalClient()
    assert instrument(client) is client
    assert isinstance(client._transport._pool._network_backend, AbortableNetworkBackend)
