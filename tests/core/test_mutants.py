"""Tests written to kill mutants that survived ``scripts/mutation.sh``.

Each test pins a behaviour that a surviving mutant changed without any other test
noticing (see ``docs/mutation-testing.md``). They reach into private modules where the
behaviour is private (the shared timer, the network wrappers), and keep every wait
short: the mutation run executes them hundreds of times.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from abortkit import AbortController, AbortError, IdleTimeoutError, IdleWatchdog, _timer
from abortkit._timer import call_later, pending_timers
from abortkit._watchdog import _watchdogs, report_progress


def wait_for(condition: Callable[[], object], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


# -- IdleWatchdog --------------------------------------------------------------------------


def test_watchdog_times_out_after_its_idle_timeout_with_an_idle_timeout_error() -> None:
    parent = AbortController()
    started = time.monotonic()
    with IdleWatchdog(0.05, parent=parent.signal) as dog:
        assert wait_for(lambda: dog.signal.aborted)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.05
    reason = dog.signal.reason
    assert isinstance(reason, IdleTimeoutError)
    assert str(reason) == "no bytes received for 0.05 s"
    assert dog.timed_out
    assert not parent.signal.aborted  # the watchdog's own timeout does not abort the caller


def test_progress_postpones_the_timeout_and_silence_then_trips_it() -> None:
    with IdleWatchdog(0.3) as dog:
        entered = time.monotonic()
        while time.monotonic() - entered < 0.65:  # two timeouts' worth, never silent for long
            report_progress()
            time.sleep(0.02)
        assert not dog.signal.aborted, "progress did not keep the watchdog from tripping"
        silent_from = time.monotonic()
        assert wait_for(lambda: dog.signal.aborted, 3.0)
        assert time.monotonic() - silent_from >= 0.25
    assert dog.timed_out


def test_touch_postpones_the_timeout() -> None:
    with IdleWatchdog(0.3) as dog:
        entered = time.monotonic()
        while time.monotonic() - entered < 0.65:
            dog.touch()
            time.sleep(0.02)
        assert not dog.signal.aborted


def test_the_parent_aborts_the_watchdog_signal_with_its_reason() -> None:
    parent = AbortController()
    with IdleWatchdog(60, parent=parent.signal) as dog:
        parent.abort("esc")
        assert dog.signal.aborted
        assert dog.signal.reason == "esc"
        assert not dog.timed_out


def test_leaving_the_block_cancels_the_timer_and_the_context() -> None:
    before_timers = pending_timers()
    before_context = _watchdogs.get()
    dog = IdleWatchdog(0.05)
    with dog:
        assert _watchdogs.get() == (*before_context, dog)
        assert pending_timers() == before_timers + 1
    assert _watchdogs.get() == before_context
    assert pending_timers() == before_timers
    time.sleep(0.12)
    assert not dog.signal.aborted, "the watchdog tripped after its block ended"


def test_a_late_check_after_the_block_does_nothing() -> None:
    dog = IdleWatchdog(0.05)
    with dog:
        pass
    dog._last = time.monotonic() - 10  # long silent
    dog._check()  # a timer callback that was already running when the block ended
    assert not dog.signal.aborted


def test_a_check_before_the_block_does_nothing() -> None:
    dog = IdleWatchdog(0.05)
    dog._last = time.monotonic() - 10
    dog._check()
    assert not dog.signal.aborted
    dog.__exit__(None, None, None)  # leaving without entering is harmless


def test_watchdogs_nest_and_progress_reaches_all_of_them() -> None:
    with IdleWatchdog(60) as outer, IdleWatchdog(60) as inner:
        assert _watchdogs.get()[-2:] == (outer, inner)
        outer._last = inner._last = 0.0
        report_progress()
        assert outer._last > 0 and inner._last > 0
    assert outer not in _watchdogs.get()


def test_watchdog_is_not_re_entrant() -> None:
    dog = IdleWatchdog(60)
    with dog:
        with pytest.raises(RuntimeError, match=r"^IdleWatchdog is not re-entrant$"):
            dog.__enter__()
        assert _watchdogs.get()[-1] is dog


def test_watchdog_async_with() -> None:
    async def main() -> IdleWatchdog:
        async with IdleWatchdog(0.05) as dog:
            assert _watchdogs.get() == (dog,)
            while not dog.signal.aborted:
                await asyncio.sleep(0.005)
        assert _watchdogs.get() == ()
        return dog

    dog = asyncio.run(main())
    assert dog.timed_out
    assert dog._token is None and not dog._active


# -- the shared timer ----------------------------------------------------------------------


def test_timers_fire_in_deadline_order_and_not_before_their_deadline() -> None:
    fired: list[tuple[str, float]] = []
    start = time.monotonic()
    call_later(0.25, lambda: fired.append(("late", time.monotonic() - start)))
    call_later(0.05, lambda: fired.append(("early", time.monotonic() - start)))
    assert wait_for(lambda: len(fired) == 2)
    assert [name for name, _ in fired] == ["early", "late"]
    assert fired[0][1] >= 0.05
    assert fired[1][1] >= 0.25


def test_cancel_prevents_the_call_and_pending_timers_counts_live_entries() -> None:
    before = pending_timers()
    fired: list[int] = []
    handles = [call_later(0.05, lambda: fired.append(1)) for _ in range(3)]
    assert pending_timers() == before + 3
    handles[0].cancel()
    handles[0].cancel()  # idempotent
    assert pending_timers() == before + 2
    assert wait_for(lambda: len(fired) == 2)
    time.sleep(0.05)
    assert fired == [1, 1]
    assert pending_timers() == before


def test_one_daemon_timer_thread_named_abortkit_timers() -> None:
    call_later(0.0, lambda: None)
    call_later(0.0, lambda: None)
    threads = [t for t in threading.enumerate() if t.name == "abortkit-timers"]
    assert len(threads) == 1
    assert threads[0].daemon
    assert threads[0] is _timer._thread


def test_compaction_keeps_live_timers_and_drops_cancelled_ones() -> None:
    fired = threading.Event()
    live = call_later(0.2, fired.set)
    dead = [call_later(30.0, lambda: None) for _ in range(200)]
    for handle in dead:
        handle.cancel()
    call_later(0.0, lambda: None)  # compacts: dead entries outnumber the live ones
    with _timer._lock:
        size = len(_timer._heap)
    assert size < 100, f"cancelled entries were not compacted away: {size}"
    assert live.callback is not None
    assert fired.wait(2.0), "compaction dropped a live timer"


def test_a_raising_timer_callback_is_logged_and_the_thread_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    _check_a_raising_timer_callback_is_logged(caplog)


def _check_a_raising_timer_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    after = threading.Event()
    with caplog.at_level(logging.ERROR, logger="abortkit"):
        call_later(0.0, broken)
        call_later(0.01, after.set)
        assert after.wait(2.0), "the timer thread died with the callback"
    (record,) = [r for r in caplog.records if "timer callback" in r.getMessage()]
    assert record.name == "abortkit"
    assert record.getMessage() == f"timer callback {broken!r} raised"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_timeout_signal_reason_names_the_delay() -> None:
    from abortkit import AbortSignal

    signal = AbortSignal.timeout(0.01)
    assert wait_for(lambda: signal.aborted)
    assert isinstance(signal.reason, TimeoutError)
    assert str(signal.reason) == "signal timed out after 0.01 s"
    with pytest.raises(AbortError):
        signal.throw_if_aborted()


# -- the network layer, against fake httpcore backends and streams ----------------------------


class FakeStream:
    """A sync httpcore-like network stream that records its calls."""

    def __init__(self, data: bytes = b"data", sock: Any = None, alpn: str | None = None) -> None:
        self.data = data
        self.sock = sock
        self.alpn = alpn
        self.calls: list[tuple[Any, ...]] = []
        self.closed = False
        self.during: Callable[[], object] | None = None  # runs inside the next blocking call
        self.custom = "passed through"

    def _blocking(self, *call: Any) -> None:
        self.calls.append(call)
        during, self.during = self.during, None
        if during is not None:
            during()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._blocking("read", max_bytes, timeout)
        return self.data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._blocking("write", buffer, timeout)

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        self._blocking("start_tls", ssl_context, server_hostname, timeout)
        return FakeStream(b"tls")

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, info: str) -> Any:
        if info == "socket":
            return self.sock
        if info == "ssl_object" and self.alpn is not None:
            return FakeSSL(self.alpn)
        return None


class FakeSSL:
    def __init__(self, alpn: str) -> None:
        self.alpn = alpn

    def selected_alpn_protocol(self) -> str:
        return self.alpn


class FakeAsyncStream(FakeStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # type: ignore[override]
        return FakeStream.read(self, max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # type: ignore[override]
        FakeStream.write(self, buffer, timeout)

    async def start_tls(  # type: ignore[override]
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        self._blocking("start_tls", ssl_context, server_hostname, timeout)
        return FakeAsyncStream(b"tls")

    async def aclose(self) -> None:
        self.closed = True


class FakeBackend:
    def __init__(self, stream: Any = None, error: BaseException | None = None) -> None:
        self.stream = stream if stream is not None else FakeStream()
        self.error = error
        self.calls: list[tuple[Any, ...]] = []
        self.during: Callable[[], object] | None = None

    def _connect(self, *call: Any) -> Any:
        self.calls.append(call)
        if self.during is not None:
            self.during()
        if self.error is not None:
            raise self.error
        return self.stream

    def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
        return self._connect("tcp", args, kwargs)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:
        return self._connect("unix", args, kwargs)

    def sleep(self, seconds: float) -> None:
        self.calls.append(("sleep", seconds))


class FakeAsyncBackend(FakeBackend):
    async def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._connect("tcp", args, kwargs)

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._connect("unix", args, kwargs)

    async def sleep(self, seconds: float) -> None:  # type: ignore[override]
        self.calls.append(("sleep", seconds))


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


def test_sync_connect_under_a_tripped_signal_is_not_attempted() -> None:
    from abortkit import AbortableNetworkBackend
    from abortkit._errors import AbortUnwind
    from abortkit._scope import _current

    controller = AbortController()
    controller.abort("esc")
    inner = FakeBackend()
    token = _current.set((controller.signal,))  # as inside an enclosing scope (whose entry would raise)
    try:
        with pytest.raises(AbortUnwind) as caught:
            AbortableNetworkBackend(inner).connect_tcp("host", 443)
    finally:
        _current.reset(token)
    assert caught.value.reason == "esc"
    assert inner.calls == []


def test_async_connect_under_a_tripped_signal_is_not_attempted() -> None:
    from abortkit import AbortableAsyncNetworkBackend
    from abortkit._errors import AbortUnwind
    from abortkit._scope import _current

    controller = AbortController()
    controller.abort("esc")
    inner = FakeAsyncBackend(FakeAsyncStream())

    async def main() -> None:
        _current.set((controller.signal,))
        await AbortableAsyncNetworkBackend(inner).connect_tcp("host", 443)

    with pytest.raises(AbortUnwind) as caught:
        asyncio.run(main())
    assert caught.value.reason == "esc"
    assert inner.calls == []


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


@pytest.mark.parametrize("scoped", [False, True], ids=["unscoped", "scoped"])
def test_a_failing_connect_raises_its_own_error(scoped: bool) -> None:
    from abortkit import AbortableNetworkBackend, abort_scope

    failure = ConnectionRefusedError("refused")
    inner = FakeBackend(error=failure)
    with abort_scope(AbortController().signal if scoped else None), pytest.raises(ConnectionRefusedError) as caught:
        AbortableNetworkBackend(inner).connect_tcp("host", 443)
    assert caught.value is failure


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


# -- @abortable: locating the signal argument, every function kind ---------------------------


def _aborted(reason: object = "esc") -> Any:
    controller = AbortController()
    controller.abort(reason)
    return controller.signal


def test_the_signal_is_found_by_keyword_by_position_and_by_default() -> None:
    from abortkit import AbortSignal, abortable

    calls: list[object] = []
    default_signal = _aborted("default")

    @abortable
    def positional(x: int, abort_signal: AbortSignal | None = None) -> int:
        calls.append(x)
        return x

    @abortable
    def keyword_only(x: int, *, abort_signal: AbortSignal | None = None) -> int:
        calls.append(x)
        return x

    @abortable
    def defaulted(x: int, abort_signal: AbortSignal | None = default_signal) -> int:
        calls.append(x)
        return x

    assert positional(1) == 1 and keyword_only(2) == 2  # no signal at all: index == len(args)
    with pytest.raises(AbortError, match="'kw'"):
        positional(3, abort_signal=_aborted("kw"))
    with pytest.raises(AbortError, match="'pos'"):
        positional(4, _aborted("pos"))
    with pytest.raises(AbortError, match="'kwonly'"):
        keyword_only(5, abort_signal=_aborted("kwonly"))
    with pytest.raises(AbortError, match="'default'"):
        defaulted(6)
    assert defaulted(7, None) == 7
    assert calls == [1, 2, 7]


def test_the_signal_is_found_on_bound_methods() -> None:
    from abortkit import AbortSignal, abortable

    class Client:
        @abortable
        def call(self, x: int, abort_signal: AbortSignal | None = None) -> int:
            return x

    assert Client().call(1) == 1
    with pytest.raises(AbortError, match="'bound'"):
        Client().call(2, _aborted("bound"))
    with pytest.raises(AbortError, match="'unbound'"):
        Client.call(Client(), 3, _aborted("unbound"))


def test_abortable_messages_name_the_function_and_the_parameter() -> None:
    from abortkit import abortable

    def no_signal(x: int) -> int:
        return x

    def star(*abort_signal: object) -> None:
        pass

    qualname = "test_abortable_messages_name_the_function_and_the_parameter.<locals>"
    with pytest.raises(TypeError) as caught:
        abortable(no_signal)
    assert str(caught.value) == f"@abortable: {qualname}.no_signal() has no parameter named 'abort_signal'"
    with pytest.raises(TypeError) as caught:
        abortable(star)
    assert str(caught.value) == f"@abortable: 'abort_signal' of {qualname}.star() must be a named parameter"

    @abortable
    def f(abort_signal: object = None) -> None:
        pass

    with pytest.raises(TypeError) as caught:
        f(abort_signal=3)
    assert str(caught.value) == f"{qualname}.f() argument 'abort_signal' must be an AbortSignal or None, not int"


def test_abortable_with_a_renamed_parameter() -> None:
    from abortkit import AbortSignal, abortable

    @abortable(signal_param="cancel")
    def call(x: int, cancel: AbortSignal | None = None) -> int:
        return x

    assert call(1) == 1
    with pytest.raises(AbortError, match="'renamed'"):
        call(2, cancel=_aborted("renamed"))


def test_generator_kind_is_driven_checks_between_items_and_keeps_the_scope() -> None:
    from abortkit import AbortSignal, abortable, current_signals

    controller = AbortController()
    seen_scopes: list[object] = []

    @abortable
    def gen(n: int, *, abort_signal: AbortSignal | None = None) -> Any:
        for i in range(n):
            seen_scopes.append(current_signals()[-1])
            yield i

    items = []
    with pytest.raises(AbortError) as caught:
        for item in gen(5, abort_signal=controller.signal):
            items.append(item)
            controller.abort("mid")
    assert items == [0]
    assert caught.value.reason == "mid"
    assert seen_scopes == [controller.signal, controller.signal]  # resumed once more, then checked


def test_generator_aborted_in_its_body_raises_with_the_reason_and_the_return_value() -> None:
    from abortkit import AbortSignal, abortable

    controller = AbortController()

    @abortable
    def finishes(abort_signal: AbortSignal | None = None) -> Any:
        yield 1
        controller.abort("in body")
        return "rest"

    generator = finishes(abort_signal=controller.signal)
    assert next(generator) == 1
    with pytest.raises(AbortError) as caught:
        next(generator)
    assert caught.value.reason == "in body"
    assert caught.value.partial == "rest"

    other = AbortController()

    @abortable
    def yields_after(abort_signal: AbortSignal | None = None) -> Any:
        other.abort("then yields")
        yield 1

    with pytest.raises(AbortError) as caught:
        next(yields_after(abort_signal=other.signal))
    assert caught.value.reason == "then yields"

    third = AbortController()
    failure = ConnectionError("closed")

    @abortable
    def fails_after(abort_signal: AbortSignal | None = None) -> Any:
        third.abort("then fails")
        raise failure
        yield

    with pytest.raises(AbortError) as caught:
        next(fails_after(abort_signal=third.signal))
    assert caught.value.reason == "then fails"
    assert caught.value.__cause__ is failure


def test_async_generator_kind_is_driven_with_send_throw_and_checks() -> None:
    from abortkit import AbortSignal, abortable, current_signals

    controller = AbortController()
    scopes: list[object] = []

    @abortable
    async def agen(start: int, *, step: int, abort_signal: AbortSignal | None = None) -> Any:
        scopes.append(current_signals()[-1])
        received = yield start
        scopes.append(current_signals()[-1])
        try:
            yield f"got {received} step {step}"
        except KeyError:
            yield "caught"
        controller.abort("done")
        return

    async def main() -> None:
        generator = agen(1, step=2, abort_signal=controller.signal)
        assert await generator.__anext__() == 1
        assert await generator.asend("x") == "got x step 2"
        assert await generator.athrow(KeyError("k")) == "caught"
        with pytest.raises(AbortError) as caught:
            await generator.__anext__()
        assert caught.value.reason == "done"

    asyncio.run(main())
    assert scopes == [controller.signal, controller.signal]


def test_async_generator_checks_between_items_and_translates_errors() -> None:
    from abortkit import AbortSignal, abortable

    controller = AbortController()
    failure = ConnectionError("closed")

    @abortable
    async def agen(fail: bool, abort_signal: AbortSignal | None = None) -> Any:
        yield 1
        if fail:
            controller.abort("then fails")
            raise failure
        yield 2

    async def main() -> None:
        first = AbortController()
        items = []
        with pytest.raises(AbortError) as caught:
            async for item in agen(False, abort_signal=first.signal):
                items.append(item)
                first.abort("mid")
        assert items == [1] and caught.value.reason == "mid"
        generator = agen(True, abort_signal=controller.signal)
        assert await generator.__anext__() == 1
        with pytest.raises(AbortError) as caught:
            await generator.__anext__()
        assert caught.value.reason == "then fails" and caught.value.__cause__ is failure

    asyncio.run(main())


def test_coroutine_kind_rechecks_after_the_await() -> None:
    from abortkit import AbortSignal, abortable

    controller = AbortController()

    @abortable
    async def answer(abort_signal: AbortSignal | None = None) -> str:
        await asyncio.sleep(0)
        controller.abort("after")
        return "partial"

    with pytest.raises(AbortError) as caught:
        asyncio.run(answer(abort_signal=controller.signal))
    assert caught.value.reason == "after"
    assert caught.value.partial == "partial"


def test_plain_recheck_carries_the_reason() -> None:
    from abortkit import AbortSignal, abortable

    controller = AbortController()

    @abortable
    def answer(abort_signal: AbortSignal | None = None) -> str:
        controller.abort("recheck")
        return "partial"

    with pytest.raises(AbortError) as caught:
        answer(abort_signal=controller.signal)
    assert caught.value.reason == "recheck" and caught.value.partial == "partial"


# -- close_on_abort, async: the close runs on the consumer's loop, and only before exit ------


class WaitsForClose:
    """An async response whose read returns only when it is closed."""

    def __init__(self) -> None:
        self.closed: asyncio.Event | None = None
        self.close_calls = 0

    async def read(self) -> bytes:
        self.closed = asyncio.Event()
        await self.closed.wait()
        raise ConnectionError("closed")

    async def aclose(self) -> None:
        self.close_calls += 1
        if self.closed is not None:
            self.closed.set()


def test_async_abort_from_another_thread_closes_at_once_on_the_loop() -> None:
    from abortkit import close_on_abort

    async def main() -> float:
        controller = AbortController()
        response = WaitsForClose()
        timer = threading.Timer(0.05, controller.abort, ("esc",))
        started = time.monotonic()
        timer.start()
        with pytest.raises(AbortError) as caught:
            async with close_on_abort(controller.signal, response) as same:
                await asyncio.wait_for(same.read(), 3.0)
        assert caught.value.reason == "esc"
        assert isinstance(caught.value.__cause__, ConnectionError), "the read was not woken by the close"
        assert response.close_calls == 1
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0


def test_a_close_scheduled_after_exit_does_nothing() -> None:
    from abortkit import close_on_abort

    async def main() -> None:
        response = WaitsForClose()
        guard = close_on_abort(AbortController().signal, response)
        async with guard:
            pass
        guard._interrupt_on_loop()  # the abort's scheduled interruption, arriving after exit
        await asyncio.sleep(0)
        assert guard._close_task is None
        assert response.close_calls == 0

    asyncio.run(main())


# -- signals: linking races, reprs ---------------------------------------------------------


def test_a_dependent_tripped_while_linking_leaves_nothing_on_any_parent() -> None:
    from abortkit import AbortSignal
    from abortkit._signal import _Forward

    class TripsTheChildWhileLinking(AbortSignal):
        """Models another thread aborting the dependent just as this parent links to it."""

        def add_listener(self, callback: Any, *, once: bool = True) -> Any:
            registration = super().add_listener(callback, once=once)
            if isinstance(callback, _Forward):
                child = callback._child()
                assert child is not None
                child._abort("raced")
            return registration

    first = AbortController().signal
    racing = TripsTheChildWhileLinking()
    last = AbortController().signal
    combined = AbortSignal.any([first, racing, last])
    assert combined.aborted and combined.reason == "raced"
    assert first.listener_count == 0
    assert racing.listener_count == 0, "the link made after the abort was left on its parent"
    assert last.listener_count == 0, "a parent after the abort was linked anyway"


def test_registration_and_close_on_abort_reprs_say_their_state() -> None:
    from abortkit import close_on_abort

    controller = AbortController()

    def callback() -> None:
        pass

    pending = controller.signal.add_listener(callback)
    removed = controller.signal.add_listener(callback)
    assert removed.remove()
    assert repr(pending) == f"<ListenerRegistration {callback!r} pending>"
    assert repr(removed) == f"<ListenerRegistration {callback!r} removed>"
    states: list[str] = []
    running = controller.signal.add_listener(lambda: states.append(repr(running)))
    controller.abort()
    assert repr(pending) == f"<ListenerRegistration {callback!r} done>"
    assert states and states[0].endswith(" running>")

    class Closable:
        def close(self) -> None:
            pass

    signal = AbortController().signal
    assert repr(close_on_abort(signal, Closable())) == f"<close_on_abort Closable signal={signal!r}>"


# -- close_on_abort on real httpx/httpx2 Response objects (in memory, over a socketpair) ---------


def _http_module(name: str) -> Any:
    import importlib

    return importlib.import_module(name)


class _Body:
    """Mixin for a counting sync byte stream of httpx or httpx2."""

    closes = 0
    chunks = (b"da", b"ta")

    def __iter__(self) -> Any:
        yield from self.chunks

    def close(self) -> None:
        self.closes += 1


class _AsyncBody:
    """Mixin for a counting async byte stream of httpx or httpx2."""

    closes = 0
    chunks = (b"da", b"ta")

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closes += 1


def _response(module_name: str, *, asynchronous: bool = False, http_version: bytes = b"HTTP/1.1") -> Any:
    """An httpx/httpx2 Response whose network stream is one end of a socketpair; returns
    (response, body, peer end)."""
    import socket

    module = _http_module(module_name)
    base = module.AsyncByteStream if asynchronous else module.SyncByteStream
    body = type("Body", (_AsyncBody if asynchronous else _Body, base), {})()
    ours, peer = socket.socketpair()
    response = module.Response(
        200, stream=body, extensions={"network_stream": FakeStream(sock=ours), "http_version": http_version}
    )
    response._test_sockets = (ours, peer)
    return response, body, peer


def _peer_saw_shutdown(peer: Any) -> bool:
    peer.settimeout(0.2)
    try:
        return peer.recv(10) == b""
    except TimeoutError:
        return False


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_a_late_abort_after_the_response_was_released_touches_nothing(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    module = _http_module(module_name)
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with guard as same:
        proxy = same.stream
        assert proxy is not body, "no guarded byte stream was installed"
        assert isinstance(proxy, module.SyncByteStream) and isinstance(proxy, module.AsyncByteStream)
        assert b"".join(same.iter_bytes()) == b"data"  # read through the guard
        same.close()  # released: the pool may hand the connection to someone else now
        assert body.closes == 1
        proxy.close()
        assert body.closes == 1, "the real stream was closed twice"
        controller.abort("late")  # the user pressed ESC after the answer was complete
    assert not guard.interrupted
    assert response.stream is body, "the original byte stream was not put back"
    assert not _peer_saw_shutdown(peer), "a late abort shut down a released connection"
    # One guarded class per HTTP library, reused.
    other, _, _ = _response(module_name)
    with close_on_abort(AbortController().signal, other) as again:
        assert type(again.stream) is type(proxy)


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_an_abort_on_a_live_response_shuts_the_socket_down_and_closes_at_exit(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with pytest.raises(AbortError) as caught, guard:
        controller.abort("esc")
        assert _peer_saw_shutdown(peer), "the abort did not shut the socket down"
        assert body.closes == 0, "closed from the aborting thread (the consumer closes, at exit)"
    assert caught.value.reason == "esc"
    assert guard.interrupted
    assert body.closes == 1 and response.is_closed
    assert response.stream is body


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_an_already_closed_response_is_never_interrupted(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    response.read()
    response.close()
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with guard as same:
        assert same.stream is body, "a guard was installed on a response that had already let go"
        controller.abort("late")
    assert not guard.interrupted
    assert not _peer_saw_shutdown(peer)


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_http2_responses_are_closed_not_shut_down(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name, http_version=b"HTTP/2")
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with pytest.raises(AbortError), guard:
        controller.abort("esc")
        assert body.closes == 1, "nothing else wakes an HTTP/2 consumer: the abort closes"
    assert guard.interrupted
    assert not _peer_saw_shutdown(peer), "an HTTP/2 socket (shared by other streams) was shut down"


@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_async_http_responses_need_async_with_and_close_on_the_loop(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name, asynchronous=True)
    with pytest.raises(TypeError, match=r"^close_on_abort\(\): a Response closes asynchronously; use `async with"):
        close_on_abort(AbortController().signal, response).__enter__()

    async def main() -> Any:
        controller = AbortController()
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard as same:
                async for chunk in same.stream:  # through the guard
                    assert chunk == b"da"
                    controller.abort("esc")
                    await asyncio.sleep(0.01)
                    break
        return guard

    guard = asyncio.run(main())
    assert guard.interrupted
    assert body.closes == 1
    assert _peer_saw_shutdown(peer)


def test_an_sdk_stream_is_guarded_through_its_response_and_closed_by_its_own_close() -> None:
    from abortkit import close_on_abort

    response, body, peer = _response("httpx2")
    closes: list[str] = []

    class SDKStream:
        def __init__(self) -> None:
            self.response = response

        def close(self) -> None:
            closes.append("sdk")
            response.close()

    sdk_stream = SDKStream()
    controller = AbortController()
    guard = close_on_abort(controller.signal, sdk_stream)
    with pytest.raises(AbortError), guard:
        assert response.stream is not body  # guarded through .response
        controller.abort("esc")
        assert _peer_saw_shutdown(peer)
    assert closes == ["sdk"] and body.closes == 1

    class NotAResponse:
        response = "not an http response"

        def close(self) -> None:
            closes.append("plain")

    controller = AbortController()
    with pytest.raises(AbortError), close_on_abort(controller.signal, NotAResponse()):
        controller.abort("esc")
        assert closes[-1] == "plain", "no HTTP response to shut down: the abort closes at once"


def test_what_close_on_abort_can_close_is_told_by_duck_typing() -> None:
    from abortkit._responses import resolve_target

    class SyncBoth:
        def aclose(self) -> None:  # not a coroutine function: not an async closer
            pass

        def close(self) -> None:
            pass

    class AsyncClose:
        async def close(self) -> None:
            pass

    class AsyncAclose:
        async def aclose(self) -> None:
            pass

        def close(self) -> None:
            pass

    both = resolve_target(SyncBoth())
    assert not both.is_async and both.sync_close is not None and both.async_close is None
    async_close = resolve_target(AsyncClose())
    assert async_close.is_async and async_close.sync_close is None
    async_aclose = resolve_target(AsyncAclose())
    assert async_aclose.is_async and async_aclose.sync_close is None
    assert async_aclose.http_response is None

    class Odd:
        pass

    with pytest.raises(TypeError) as caught:
        resolve_target(Odd())
    assert str(caught.value) == (
        f"close_on_abort() cannot close a {__name__}.{Odd.__qualname__}: it needs an httpx/httpx2 Response, "
        "an SDK stream, or an object with close() or aclose()"
    )
    with pytest.raises(TypeError, match=r"^close_on_abort\(\) needs a response to close, not None$"):
        resolve_target(None)


def test_sockets_helpers() -> None:
    import socket

    from abortkit._sockets import find_socket, is_multiplexed, shutdown_socket

    ours, peer = socket.socketpair()
    assert shutdown_socket(ours) is True
    assert peer.recv(10) == b""
    ours.close()
    peer.close()
    assert shutdown_socket(ours) is False  # closed: the kernel refuses

    class NoFileno:
        def shutdown(self, how: int) -> None:
            pass

    class NoShutdown:
        def fileno(self) -> int:
            return 3

    for odd in (NoFileno(), NoShutdown(), None):
        assert find_socket(FakeStream(sock=odd)) is None
    assert find_socket(None) is None

    class Raises:
        def get_extra_info(self, info: str) -> Any:
            raise RuntimeError("closed")

    assert find_socket(Raises()) is None
    assert not is_multiplexed(Raises())
    assert is_multiplexed(FakeStream(alpn="h2"))
    assert not is_multiplexed(FakeStream(alpn="http/1.1"))
    assert not is_multiplexed(FakeStream())


def test_scope_can_be_used_again_after_exit_but_not_nested_in_itself() -> None:
    from abortkit import abort_scope, current_signals

    signal = AbortController().signal
    scope = abort_scope(signal)
    with scope:
        with pytest.raises(RuntimeError) as caught:
            scope.__enter__()
        assert str(caught.value) == "abort_scope is not re-entrant: create one per block"
    with scope:  # sequential reuse is fine
        assert current_signals()[-1] is signal
    assert signal not in current_signals()


def test_as_abort_error_chains_its_cause() -> None:
    from abortkit._errors import AbortUnwind
    from abortkit._translate import as_abort_error

    signal = _aborted("esc")
    failure = OSError("bad fd")
    error = as_abort_error(failure, signal)
    assert error is not None and error.reason == "esc" and error.__cause__ is failure
    unwind = AbortUnwind("deep")
    error = as_abort_error(unwind, None)
    assert error is not None and error.reason == "deep" and error.__cause__ is unwind


# -- abortable_iter: plain async iteration, closing what stopped early, logging ---------------


def test_async_iteration_without_a_signal_is_plain() -> None:
    from abortkit import abortable_iter

    async def source() -> Any:
        yield 1
        yield 2

    async def main() -> list[int]:
        return [item async for item in abortable_iter(source(), None)]

    assert asyncio.run(main()) == [1, 2]


def test_a_source_without_close_has_its_iterator_closed_on_an_early_stop() -> None:
    from abortkit import abortable_iter

    finished: list[str] = []

    def generator() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finished.append("sync")

    class Source:  # iterable, no close(): the iterator it returns must be closed
        def __iter__(self) -> Any:
            return generator()

    controller = AbortController()
    with pytest.raises(AbortError) as caught:
        for _ in abortable_iter(Source(), controller.signal):
            controller.abort("esc")
    assert caught.value.reason == "esc"
    assert finished == ["sync"]

    async def agenerator() -> Any:
        try:
            yield 1
            yield 2
        finally:
            finished.append("async")

    class AsyncSource:
        def __aiter__(self) -> Any:
            return agenerator()

    async def main() -> None:
        other = AbortController()
        with pytest.raises(AbortError) as caught:
            async for _ in abortable_iter(AsyncSource(), other.signal):
                other.abort("aesc")
        assert caught.value.reason == "aesc"
        assert finished == ["sync", "async"], "the iterator was not closed when the stream stopped"

    asyncio.run(main())
    assert finished == ["sync", "async"]

    class ListSource:  # neither the source nor its iterator has close(): nothing to close, no error
        def __iter__(self) -> Any:
            return iter([1, 2])

    third = AbortController()
    with pytest.raises(AbortError):
        for _ in abortable_iter(ListSource(), third.signal):
            third.abort()


def test_an_async_consumer_leaving_early_closes_the_source() -> None:
    from abortkit import abortable_iter

    closed: list[bool] = []

    class Source:
        def __init__(self) -> None:
            self.items = iter([1, 2, 3])

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> int:
            try:
                return next(self.items)
            except StopIteration:
                raise StopAsyncIteration from None

        async def aclose(self) -> None:
            closed.append(True)

    async def main() -> None:
        iterator = abortable_iter(Source(), AbortController().signal)
        assert await iterator.__anext__() == 1
        await iterator.aclose()  # the consumer stops before the end

    asyncio.run(main())
    assert closed == [True]


def test_async_errors_after_the_abort_become_abort_errors_chained() -> None:
    from abortkit import abortable_iter

    controller = AbortController()
    failure = ConnectionError("closed")

    async def source() -> Any:
        yield 1
        controller.abort("esc")
        raise failure

    async def main() -> None:
        with pytest.raises(AbortError) as caught:
            async for _ in abortable_iter(source(), controller.signal):
                pass
        assert caught.value.reason == "esc" and caught.value.__cause__ is failure

    asyncio.run(main())


def test_a_failing_close_after_an_early_stop_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from abortkit import abortable_iter

    class Source:
        def __iter__(self) -> Any:
            return iter([1, 2])

        def close(self) -> None:
            raise OSError("close failed")

    class AsyncSource:
        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> int:
            return 1

        async def aclose(self) -> None:
            raise OSError("aclose failed")

    source, async_source = Source(), AsyncSource()
    with caplog.at_level(logging.DEBUG, logger="abortkit"):
        controller = AbortController()
        with pytest.raises(AbortError):
            for _ in abortable_iter(source, controller.signal):
                controller.abort()

        async def main() -> None:
            other = AbortController()
            with pytest.raises(AbortError):
                async for _ in abortable_iter(async_source, other.signal):
                    other.abort()

        asyncio.run(main())
    records = [r for r in caplog.records if r.name == "abortkit" and "early stop" in r.getMessage()]
    assert [r.getMessage() for r in records] == [
        f"closing {source!r} after an early stop failed",
        f"closing {async_source!r} after an early stop failed",
    ]
    assert all(r.levelno == logging.DEBUG and r.exc_info and isinstance(r.exc_info[1], OSError) for r in records)


# -- close_on_abort: async details -------------------------------------------------------------


def test_async_close_on_abort_without_abort_closes_nothing() -> None:
    from abortkit import close_on_abort

    response = WaitsForClose()

    async def main() -> None:
        async with close_on_abort(AbortController().signal, response):
            pass

    asyncio.run(main())
    assert response.close_calls == 0


def test_async_close_on_abort_already_aborted_closes_and_raises_before_the_body() -> None:
    from abortkit import close_on_abort

    response = WaitsForClose()
    ran: list[bool] = []

    async def main() -> None:
        async with close_on_abort(_aborted("early"), response):
            ran.append(True)

    with pytest.raises(AbortError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "early"
    assert ran == [] and response.close_calls == 1


def test_async_close_on_abort_closes_an_object_with_a_sync_close() -> None:
    from abortkit import close_on_abort

    class SyncClosable:
        def __init__(self) -> None:
            self.closes = 0

        def close(self) -> None:
            self.closes += 1

    response = SyncClosable()

    async def main() -> None:
        controller = AbortController()
        threading.Timer(0.02, controller.abort, ("esc",)).start()
        async with close_on_abort(controller.signal, response):
            await asyncio.sleep(0.2)

    with pytest.raises(AbortError):
        asyncio.run(main())
    assert response.closes >= 1


def test_an_error_in_an_aborted_async_block_is_chained_and_a_failing_close_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from abortkit import close_on_abort

    class FailingClose:
        async def aclose(self) -> None:
            raise OSError("aclose failed")

    response = FailingClose()
    failure = ConnectionError("read failed")

    async def main() -> None:
        controller = AbortController()
        async with close_on_abort(controller.signal, response):
            controller.abort("esc")
            await asyncio.sleep(0.01)
            raise failure

    with caplog.at_level(logging.DEBUG, logger="abortkit"), pytest.raises(AbortError) as caught:
        asyncio.run(main())
    assert caught.value.reason == "esc" and caught.value.__cause__ is failure
    (record,) = [r for r in caplog.records if r.getMessage() == f"closing {response!r} after an abort failed"]
    assert record.name == "abortkit" and record.exc_info and isinstance(record.exc_info[1], OSError)


def test_a_failing_sync_close_at_exit_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")

    class SDKStream:
        def __init__(self) -> None:
            self.response = response

        def close(self) -> None:
            raise OSError("close failed")

    stream = SDKStream()
    controller = AbortController()
    with caplog.at_level(logging.DEBUG, logger="abortkit"), pytest.raises(AbortError) as caught:  # noqa: SIM117
        with close_on_abort(controller.signal, stream):
            controller.abort("esc")
            assert _peer_saw_shutdown(peer)
    assert caught.value.reason == "esc"
    (record,) = [r for r in caplog.records if r.getMessage() == f"closing {stream!r} after an abort failed"]
    assert record.name == "abortkit" and record.exc_info and isinstance(record.exc_info[1], OSError)


def test_an_abort_landing_between_registering_and_the_recheck_runs_the_listener_once() -> None:
    """As if another thread aborted right after add_listener inserted the registration and
    before it read ``_aborted``: the aborter runs the listener, add_listener must not."""
    import linecache
    import sys

    controller = AbortController()
    runs: list[int] = []
    fired: list[bool] = []

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and not fired:
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            if line == "if self._aborted:":
                fired.append(True)
                controller.abort("between")
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if event == "call" and "add_listener" in frame.f_code.co_name and "_signal" in frame.f_code.co_filename:
            return local
        return None

    sys.settrace(tracer)
    try:
        registration = controller.signal.add_listener(lambda: runs.append(1))
    finally:
        sys.settrace(None)
    assert fired, "the recheck line was not reached (add_listener changed?)"
    assert runs == [1], f"the listener ran {len(runs)} times"
    assert registration.ran and not registration.remove()


# -- second round: what the first mutation run still let through -----------------------------


class _StopTimerLoop(BaseException):
    """Ends a timer loop started by a test (a BaseException passes the loop's ``except``)."""


def _second_timer_loop() -> None:
    try:
        _timer._run()
    except _StopTimerLoop:
        pass


def test_the_timer_loop_orders_waits_and_logs() -> None:
    """Runs a second timer loop for the duration of the test, so that the loop itself
    (``_timer._run``, which the shared thread enters only once per process) is exercised
    by this test: both loops serve the same heap, as two threads may."""
    extra = threading.Thread(target=_second_timer_loop, name="test-timer-loop", daemon=True)
    extra.start()
    try:
        test_timers_fire_in_deadline_order_and_not_before_their_deadline()
        fired = threading.Event()
        started = time.monotonic()
        call_later(0.4, fired.set)
        assert fired.wait(3.0)
        assert time.monotonic() - started >= 0.4, "a timer fired early"
    finally:

        def stop() -> None:
            if threading.current_thread() is extra:
                raise _StopTimerLoop
            call_later(0.001, stop)  # the shared loop took it: try again

        call_later(0.0, stop)
        extra.join(5.0)
    assert not extra.is_alive()


def test_the_timer_loop_logs_a_raising_callback(caplog: pytest.LogCaptureFixture) -> None:
    extra = threading.Thread(target=_second_timer_loop, name="test-timer-loop", daemon=True)
    extra.start()
    try:
        with caplog.at_level(logging.ERROR, logger="abortkit"):
            for _ in range(4):  # both loops get some
                _check_a_raising_timer_callback_is_logged(caplog)
                caplog.clear()
    finally:

        def stop() -> None:
            if threading.current_thread() is extra:
                raise _StopTimerLoop
            call_later(0.001, stop)

        call_later(0.0, stop)
        extra.join(5.0)
    assert not extra.is_alive()


def test_listener_registration_made_directly_checks_its_arguments() -> None:
    from abortkit import ListenerRegistration

    signal = AbortController().signal

    def callback() -> None:
        pass

    registration = ListenerRegistration(signal, callback, True)
    assert registration.signal is signal and registration.callback is callback
    assert registration.pending and registration._once is True
    assert ListenerRegistration(signal, callback, False)._once is False
    assert signal.listener_count == 0  # made directly, it is not registered
    with pytest.raises(TypeError) as caught:
        ListenerRegistration(signal, 5, True)  # type: ignore[arg-type]
    assert str(caught.value) == "ListenerRegistration callback must be callable, not int"
    with pytest.raises(TypeError) as caught:
        ListenerRegistration(signal, callback, 1)  # type: ignore[arg-type]
    assert str(caught.value) == "ListenerRegistration once must be a bool, not int"
    with pytest.raises(TypeError) as caught:
        ListenerRegistration("esc", callback, True)  # type: ignore[arg-type]
    assert str(caught.value) == "ListenerRegistration signal must be an AbortSignal, not str"


def test_remove_waiting_for_a_running_listener_is_woken_by_a_notification() -> None:
    from abortkit import _signal

    notified: list[bool] = []
    real = _signal._finished

    class Recording(type(real)):  # type: ignore[misc]
        def wait(self, timeout: float | None = None) -> bool:
            woken = super().wait(timeout)
            notified.append(woken)
            return woken

    controller = AbortController()
    running = threading.Event()
    release = threading.Event()

    def slow() -> None:
        running.set()
        release.wait(5)

    registration = controller.signal.add_listener(slow)
    _signal._finished = Recording(threading.RLock())
    try:
        aborter = threading.Thread(target=controller.abort)
        aborter.start()
        assert running.wait(5)
        threading.Timer(0.12, release.set).start()
        assert registration.remove() is False  # waits for the running listener
        aborter.join(5)
    finally:
        _signal._finished = real
    assert registration.ran and not registration.pending
    assert notified and notified[-1] is True, f"remove() was woken by its poll timeout, not notified: {notified}"


def test_a_signal_given_as_none_by_default_is_not_required() -> None:
    from functools import partial

    from abortkit import AbortSignal, abortable

    @abortable
    def required(abort_signal: AbortSignal | None) -> int:
        return 1

    with pytest.raises(TypeError, match="missing 1 required positional argument: 'abort_signal'"):
        required()  # type: ignore[call-arg]

    def target(x: int, abort_signal: AbortSignal | None = None) -> int:
        return x

    bound = partial(target, 1)  # no __qualname__: messages use its repr
    decorated = abortable(bound)
    assert decorated() == 1
    with pytest.raises(TypeError) as caught:
        decorated(abort_signal="esc")
    assert str(caught.value) == f"{bound!r}() argument 'abort_signal' must be an AbortSignal or None, not str"


def test_a_generator_keeps_the_scopes_its_body_opened_across_yields() -> None:
    from abortkit import AbortSignal, abort_scope, abortable, current_signals

    outer, inner = AbortController(), AbortController()
    seen: list[tuple[AbortSignal, ...]] = []

    @abortable
    def gen(abort_signal: AbortSignal | None = None) -> Any:
        with abort_scope(inner.signal):
            seen.append(current_signals())
            yield 1
            seen.append(current_signals())
            yield 2
        seen.append(current_signals())
        yield 3

    assert list(gen(abort_signal=outer.signal)) == [1, 2, 3]
    assert seen[0][-2:] == (outer.signal, inner.signal)
    assert seen[1][-2:] == (outer.signal, inner.signal), "the body's own scope was lost across a yield"
    assert seen[2][-1] is outer.signal and inner.signal not in seen[2]
    assert outer.signal not in current_signals()

    @abortable
    async def agen(abort_signal: AbortSignal | None = None) -> Any:
        with abort_scope(inner.signal):
            seen.append(current_signals())
            yield 1
            seen.append(current_signals())
            yield 2

    async def main() -> list[int]:
        return [item async for item in agen(abort_signal=outer.signal)]

    seen.clear()
    assert asyncio.run(main()) == [1, 2]
    assert seen[1][-2:] == (outer.signal, inner.signal)


def test_the_network_layer_shares_one_interrupter_per_stream() -> None:
    import socket

    from abortkit import abort_scope
    from abortkit._network import AbortableAsyncNetworkStream, AbortableNetworkStream
    from abortkit._sockets import SocketInterrupter, interrupter_for
    from abortkit._waiting import running_asyncio

    ours, peer = socket.socketpair()
    try:
        stream = AbortableNetworkStream(FakeStream(sock=ours))
        assert stream.get_extra_info("socket") is ours
        assert interrupter_for(stream) is stream.abortkit_interrupter
        fresh = interrupter_for(FakeStream(sock=ours))
        assert isinstance(fresh, SocketInterrupter) and fresh is not stream.abortkit_interrupter
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
        assert running_asyncio()

    asyncio.run(main())
    assert not running_asyncio()


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


def test_an_already_aborted_block_never_runs_even_on_a_released_response() -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")
    response.read()
    response.close()
    ran: list[bool] = []
    with pytest.raises(AbortError) as caught, close_on_abort(_aborted("early"), response):
        ran.append(True)
    assert caught.value.reason == "early" and ran == []
    assert not _peer_saw_shutdown(peer)

    async_response, _async_body, _ = _response("httpx2", asynchronous=True)

    async def main() -> None:
        await async_response.aread()
        await async_response.aclose()
        async with close_on_abort(_aborted("early"), async_response):
            ran.append(True)

    with pytest.raises(AbortError):
        asyncio.run(main())
    assert ran == []


class SlowAclose:
    """An async closable whose aclose() lets the loop run, counting calls."""

    def __init__(self) -> None:
        self.close_calls = 0

    async def aclose(self) -> None:
        self.close_calls += 1
        await asyncio.sleep(0.01)


def test_an_async_abort_queued_before_exit_closes_once_and_nothing_runs_after_exit() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> Any:
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard:
                controller.abort("esc")  # queued on this loop; the block ends before it runs
        await asyncio.sleep(0.05)
        guard._interrupt_on_loop()  # a late interruption: must do nothing now
        await asyncio.sleep(0.02)
        return guard

    guard = asyncio.run(main())
    assert response.close_calls == 1
    assert guard.interrupted
    assert controller.signal.listener_count == 0


def test_an_async_abort_interrupts_once_however_often_it_is_scheduled() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> None:
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard:
                controller.abort("esc")
                await asyncio.sleep(0.005)
                guard._interrupt_on_loop()  # scheduled twice: one close only
                await asyncio.sleep(0.03)

    asyncio.run(main())
    assert response.close_calls == 1


def test_after_an_async_block_the_listener_is_gone() -> None:
    from abortkit import close_on_abort

    response = SlowAclose()
    controller = AbortController()

    async def main() -> None:
        async with close_on_abort(controller.signal, response):
            assert controller.signal.listener_count == 1
        assert controller.signal.listener_count == 0
        controller.abort("late")
        await asyncio.sleep(0.02)

    asyncio.run(main())
    assert response.close_calls == 0


def test_seconds_validation_names_the_type_and_the_value() -> None:
    from abortkit import AbortSignal

    with pytest.raises(TypeError) as caught:
        AbortSignal.timeout("1")  # type: ignore[arg-type]
    assert str(caught.value).endswith(", not str")
    with pytest.raises(TypeError) as caught:
        IdleWatchdog([])  # type: ignore[arg-type]
    assert str(caught.value).endswith(", not list")


def test_validation_helpers() -> None:
    from abortkit import _validate

    assert _validate.type_name(5) == "int"
    assert _validate.is_finite(1.5) and not _validate.is_finite(math.inf)
    assert not _validate.is_finite(10**400)  # too large for a float: not finite, no OverflowError
    assert _validate.is_number(2) and not _validate.is_number(True) and not _validate.is_number("2")


def test_a_socket_interrupter_shuts_down_once_and_never_a_multiplexed_socket() -> None:
    import socket

    from abortkit._sockets import SocketInterrupter

    assert SocketInterrupter(FakeStream(alpn="h2")).interrupt() is False
    assert SocketInterrupter(FakeStream()).interrupt() is False  # no socket
    ours, peer = socket.socketpair()
    try:
        interrupter = SocketInterrupter(FakeStream(sock=ours))
        assert interrupter.interrupt() is True
        assert interrupter.interrupt() is True  # remembered, not shut down again (which would fail)
        assert peer.recv(10) == b""
    finally:
        ours.close()
        peer.close()


def test_a_sync_response_whose_stream_is_also_async_iterable_is_sync() -> None:
    import httpx2

    from abortkit import close_on_abort
    from abortkit._responses import resolve_target

    response = httpx2.Response(200, stream=httpx2.ByteStream(b"data"))  # both __iter__ and __aiter__
    target = resolve_target(response)
    assert not target.is_async and target.sync_close is not None and target.obj is response
    with close_on_abort(AbortController().signal, response) as same:
        assert same.read() == b"data"


def test_a_duck_typed_response_is_guarded_without_a_byte_stream_proxy() -> None:
    from abortkit import close_on_abort

    class Stream:
        def __iter__(self) -> Any:
            return iter([b"x"])

        def close(self) -> None:
            pass

    class DuckResponse:  # looks like an HTTP response, from no HTTP library
        def __init__(self) -> None:
            self.extensions: dict[str, Any] = {}
            self.stream = Stream()
            self.http_version = "HTTP/1.1"
            self.is_closed = False
            self.closes = 0

        def close(self) -> None:
            self.closes += 1
            self.is_closed = True

    response = DuckResponse()
    original = response.stream
    controller = AbortController()
    with pytest.raises(AbortError), close_on_abort(controller.signal, response) as same:
        assert same.stream is original  # no proxy class for an unknown library
        controller.abort("esc")
    assert response.closes == 1


def test_a_byte_stream_replaced_inside_the_block_is_left_alone_at_exit() -> None:
    from abortkit import close_on_abort

    response, body, _peer = _response("httpx2")
    replacement = type(body)()
    with close_on_abort(AbortController().signal, response) as same:
        same.stream = replacement  # someone else swapped it: not ours to put back
    assert response.stream is replacement


def test_close_on_abort_single_use_message() -> None:
    from abortkit import close_on_abort

    class Closable:
        def close(self) -> None:
            pass

    guard = close_on_abort(AbortController().signal, Closable())
    with guard:
        pass
    with pytest.raises(RuntimeError) as caught, guard:
        pass
    assert str(caught.value) == "close_on_abort is single use: create one per response"


def test_seconds_messages_say_what_is_wanted() -> None:
    from abortkit._validate import seconds

    with pytest.raises(ValueError) as caught:
        seconds("x", 0, positive=True)
    assert str(caught.value) == "x must be > 0, not 0"
    with pytest.raises(ValueError) as caught:
        seconds("x", math.inf, finite=True)
    assert str(caught.value) == "x must be >= 0 and finite, not inf"
    with pytest.raises(ValueError) as caught:
        seconds("x", -1)
    assert str(caught.value) == "x must be >= 0, not -1"
    with pytest.raises(ValueError) as caught:
        seconds("x", 0, positive=True, finite=True)
    assert str(caught.value) == "x must be a positive finite number, not 0"
    assert seconds("x", 0) == 0.0 and seconds("x", math.inf) == math.inf


def test_signal_argument_errors_word_for_word() -> None:
    from abortkit import AbortSignal

    signal = AbortController().signal
    other = AbortController().signal
    with pytest.raises(TypeError) as caught:
        AbortSignal.any(signal)  # type: ignore[arg-type]
    assert str(caught.value) == "AbortSignal.any() takes an iterable of signals, not a single signal"
    with pytest.raises(ValueError) as caught:
        signal.remove_listener(other.add_listener(lambda: None))
    assert str(caught.value) == "remove_listener(): that registration belongs to another signal"
    with pytest.raises(TypeError) as caught:
        signal.remove_listener(5)  # type: ignore[arg-type]
    assert str(caught.value) == (
        "remove_listener() takes the ListenerRegistration that add_listener() returned, not int"
    )


def test_a_socket_interrupter_shuts_its_socket_down_only_once() -> None:
    from abortkit._sockets import SocketInterrupter

    class CountingSocket:
        def __init__(self) -> None:
            self.shutdowns = 0

        def shutdown(self, how: int) -> None:
            self.shutdowns += 1

        def fileno(self) -> int:
            return -1

    sock = CountingSocket()
    interrupter = SocketInterrupter(FakeStream(sock=sock))
    assert interrupter.interrupt() is True
    assert interrupter.interrupt() is True
    assert sock.shutdowns == 1, "the socket was shut down again (a syscall per abort, per listener)"


def test_the_guarded_byte_stream_class_is_named_for_what_it_is() -> None:
    from abortkit import close_on_abort

    response, _body, _peer = _response("httpx2")
    with close_on_abort(AbortController().signal, response) as same:
        assert type(same.stream).__name__ == "GuardedByteStream"


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


def test_a_signal_already_in_scope_is_not_pushed_twice() -> None:
    from abortkit import AbortSignal, abort_scope, abortable, current_signals

    signal = AbortController().signal
    with abort_scope(signal), abort_scope(signal):
        assert current_signals().count(signal) == 1

    @abortable
    def gen(abort_signal: AbortSignal | None = None) -> Any:
        yield current_signals().count(signal)

    with abort_scope(signal):
        assert list(gen(abort_signal=signal)) == [1]


def test_add_listener_accepts_both_bools_for_once() -> None:
    signal = AbortController().signal
    assert signal.add_listener(lambda: None, once=False).pending
    assert signal.add_listener(lambda: None, once=True).pending
    assert signal.listener_count == 2


def test_a_raising_listener_is_logged_with_its_callback(caplog: pytest.LogCaptureFixture) -> None:
    controller = AbortController()

    def broken() -> None:
        raise RuntimeError("boom")

    controller.signal.add_listener(broken)
    with caplog.at_level(logging.ERROR, logger="abortkit"):
        controller.abort()
    (record,) = [r for r in caplog.records if r.name == "abortkit"]
    assert record.getMessage() == f"abort listener {broken!r} raised"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_dependent_that_aborts_marks_its_other_links_removed() -> None:
    from abortkit import AbortSignal

    first, second = AbortController(), AbortController()
    combined = AbortSignal.any([first.signal, second.signal])
    (link,) = list(second.signal._pending)
    first.abort("first")
    assert combined.reason == "first"
    assert not link.pending and not link.ran
    assert repr(link).endswith(" removed>")
    assert second.signal.listener_count == 0


def test_instrument_a_client_without_mounts() -> None:
    import httpx2

    from abortkit import AbortableNetworkBackend, instrument

    class MinimalClient:  # an httpx-like client with a transport and no mounts at all
        def __init__(self) -> None:
            self._transport = httpx2.HTTPTransport()

    client = MinimalClient()
    assert instrument(client) is client
    assert isinstance(client._transport._pool._network_backend, AbortableNetworkBackend)


def test_the_byte_stream_bases_come_from_the_responses_top_level_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_proxy_class`` looks the bases up in the package (``httpx2``), not in the module that
    defines the response class (``httpx2._models``); a package with only one of the two bases
    is not one we can guard (no proxy class, rather than a TypeError from ``type()``)."""
    import sys
    import types

    from abortkit._responses import _proxy_class

    class SyncByteStream:
        pass

    class AsyncByteStream:
        pass

    package = types.ModuleType("fakehttp")
    package.SyncByteStream = SyncByteStream  # type: ignore[attr-defined]
    package.AsyncByteStream = AsyncByteStream  # type: ignore[attr-defined]
    models = types.ModuleType("fakehttp._models")  # defines the response, not the bases
    monkeypatch.setitem(sys.modules, "fakehttp", package)
    monkeypatch.setitem(sys.modules, "fakehttp._models", models)

    Response = type("Response", (), {"__module__": "fakehttp._models"})
    cls = _proxy_class(Response())
    assert cls is not None and issubclass(cls, SyncByteStream) and issubclass(cls, AsyncByteStream)

    del package.AsyncByteStream
    assert _proxy_class(Response()) is None
    package.AsyncByteStream = AsyncByteStream  # type: ignore[attr-defined]
    del package.SyncByteStream
    assert _proxy_class(Response()) is None


def test_a_fresh_signal_says_not_aborted_with_a_bool() -> None:
    controller = AbortController()
    assert controller.signal.aborted is False
    controller.abort()
    assert controller.signal.aborted is True


def test_interrupted_is_a_bool_false_until_an_abort_interrupts() -> None:
    from abortkit import close_on_abort

    response, _body, peer = _response("httpx2")
    try:
        guard = close_on_abort(AbortController().signal, response)
        assert guard.interrupted is False
        with guard:
            assert guard.interrupted is False
        assert guard.interrupted is False
    finally:
        peer.close()
