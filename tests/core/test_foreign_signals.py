"""Adopting an app's own signal (``SignalLike``), a ``threading.Event`` or a ``Future``: the
bridge follows it while adopted, rechecks after registering, and leaves nothing behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any

import pytest

from abortkit import AbortController, AbortSignal
from abortkit._foreign import ForeignSignal, SignalLike, adopt
from tests._helpers.app_signals import CallbackSignal, HandleSignal
from tests._helpers.waiting import wait_for


def test_native_signals_and_none_pass_through_untouched() -> None:
    native = AbortController().signal
    assert adopt(native, "x").signal is native
    assert adopt(None, "x").signal is None


@pytest.mark.parametrize("kind", [HandleSignal, CallbackSignal])
def test_a_signal_like_is_followed_while_adopted_and_left_clean(kind: type[Any]) -> None:
    app = kind()
    assert isinstance(app, SignalLike)
    adopted = adopt(app, "x")
    bridge = adopted.signal
    assert isinstance(bridge, ForeignSignal) and not bridge.aborted
    assert app.listener_count == 1
    app.abort("esc")
    assert bridge.aborted and bridge.reason == "esc"
    adopted.release()
    adopted.release()  # idempotent
    assert app.listener_count == 0


@pytest.mark.parametrize("kind", [HandleSignal, CallbackSignal])
def test_release_before_the_abort_leaves_nothing_and_a_later_abort_does_not_reach_the_bridge(
    kind: type[Any],
) -> None:
    app = kind()
    adopted = adopt(app, "x")
    adopted.release()
    assert app.listener_count == 0
    app.abort()
    assert adopted.signal is not None and not adopted.signal.aborted


def test_an_already_aborted_signal_like_registers_nothing() -> None:
    app = HandleSignal()
    app.abort("early")
    adopted = adopt(app, "x")
    assert adopted.signal is not None and adopted.signal.reason == "early"
    assert app.listener_count == 0


def test_an_abort_while_registering_is_caught_by_the_recheck() -> None:
    class AbortsWhileRegistering(HandleSignal):
        """Models another thread aborting between abortkit's first look and its registration,
        on a signal that does not run listeners added after its abort."""

        def add_listener(self, callback: Any) -> int:
            self.aborted, self.reason = True, "raced"
            return super().add_listener(callback)

    app = AbortsWhileRegistering()
    adopted = adopt(app, "x")
    assert adopted.signal is not None and adopted.signal.reason == "raced"
    adopted.release()
    assert app.listener_count == 0


def test_a_bridge_already_in_scope_is_reused() -> None:
    app = HandleSignal()
    first = adopt(app, "x")
    assert first.signal is not None
    second = adopt(app, "x", (first.signal,))
    assert second.signal is first.signal and app.listener_count == 1
    second.release()
    assert app.listener_count == 1  # the outer adoption still holds it
    first.release()


def test_a_threading_event_is_followed_by_polling() -> None:
    event = threading.Event()
    adopted = adopt(event, "x")
    bridge = adopted.signal
    assert bridge is not None
    threading.Timer(0.05, event.set).start()
    assert wait_for(lambda: bridge.aborted, 2.0)
    assert bridge.reason is None
    adopted.release()
    already = threading.Event()
    already.set()
    assert adopt(already, "x").signal.aborted  # type: ignore[union-attr]


def test_a_released_event_is_no_longer_followed() -> None:
    event = threading.Event()
    adopted = adopt(event, "x")
    adopted.release()
    event.set()
    time.sleep(0.05)
    assert adopted.signal is not None and not adopted.signal.aborted


def test_a_concurrent_future_done_means_aborted_with_its_result_or_cancellation() -> None:
    token: concurrent.futures.Future[str] = concurrent.futures.Future()
    adopted = adopt(token, "x")
    token.set_result("esc")
    assert adopted.signal is not None and adopted.signal.reason == "esc"
    cancelled: concurrent.futures.Future[str] = concurrent.futures.Future()
    other = adopt(cancelled, "x")
    cancelled.cancel()
    assert isinstance(other.signal.reason, concurrent.futures.CancelledError)  # type: ignore[union-attr]
    released: concurrent.futures.Future[str] = concurrent.futures.Future()
    third = adopt(released, "x")
    third.release()
    released.set_result("late")
    assert third.signal is not None and not third.signal.aborted


def test_an_asyncio_task_cancelled_aborts_the_bridge() -> None:
    async def main() -> AbortSignal:
        task = asyncio.ensure_future(asyncio.sleep(10))
        adopted = adopt(task, "x")
        task.cancel()
        await asyncio.sleep(0.01)
        assert adopted.signal is not None
        return adopted.signal

    bridge = asyncio.run(main())
    assert bridge.aborted and isinstance(bridge.reason, asyncio.CancelledError)


def test_refused_kinds_name_what_was_wrong() -> None:
    class NoRemove:
        aborted = False

        def add_listener(self, callback: Any) -> None:
            pass

    class CancelScopeLike:
        cancel_called = False

        def cancel(self) -> None:
            pass

    with pytest.raises(TypeError, match="has add_listener but no remove_listener"):
        adopt(NoRemove(), "f() abort_signal")
    with pytest.raises(TypeError, match="is not a signal: it already cancels the awaits"):
        adopt(CancelScopeLike(), "f() abort_signal")
    with pytest.raises(TypeError, match=r"f\(\) abort_signal must be an AbortSignal, a signal-like .* not str"):
        adopt("esc", "f() abort_signal")


# -- every entry point takes them --------------------------------------------------------------


@pytest.mark.parametrize("kind", [HandleSignal, CallbackSignal])
def test_abort_scope_follows_an_app_signal_and_leaves_nothing(kind: type[Any]) -> None:
    from abortkit import AbortError, abort_scope, current_signals

    app = kind()
    with pytest.raises(AbortError) as caught, abort_scope(app) as scope:
        bridge = scope.signal
        assert isinstance(bridge, ForeignSignal) and bridge in current_signals()
        app.abort("esc")
        raise ConnectionResetError("what the SDK raised")
    assert caught.value.reason == "esc" and app.listener_count == 0
    app2 = kind()
    app2.abort("early")
    with pytest.raises(AbortError), abort_scope(app2):
        pass
    assert app2.listener_count == 0


def test_close_on_abort_wakes_a_blocked_read_on_an_app_signal() -> None:
    from abortkit import AbortError, close_on_abort
    from abortkit.testing import SlowStream

    app = HandleSignal()
    stream = SlowStream(range(3), gap=10.0)
    threading.Timer(0.1, app.abort).start()
    started = time.monotonic()
    with pytest.raises(AbortError), close_on_abort(app, stream):
        list(stream)
    assert time.monotonic() - started < 2.0
    assert stream.closed and app.listener_count == 0


def test_abortable_iter_on_an_app_signal_and_nothing_after_the_abort() -> None:
    from abortkit import AbortError, abortable_iter

    app = CallbackSignal()
    received: list[int] = []
    with pytest.raises(AbortError):
        for item in abortable_iter(range(100), app):
            received.append(item)
            if item == 4:
                app.abort()
    assert received == [0, 1, 2, 3, 4] and app.listener_count == 0
    unstarted = abortable_iter(range(3), app)
    assert app.listener_count == 0  # adopted only while iterating
    del unstarted


def test_abortable_takes_an_app_signal_for_functions_and_generators() -> None:
    from abortkit import AbortError, abortable

    app = HandleSignal()

    @abortable
    def call(abort_signal: Any = None) -> str:
        assert app.listener_count == 1  # followed for the call's duration
        return "done"

    @abortable
    def generate(abort_signal: Any = None) -> Any:
        yield 1
        app.abort("esc")
        yield 2

    assert call(abort_signal=app) == "done" and app.listener_count == 0
    with pytest.raises(AbortError):
        list(generate(abort_signal=app))
    assert app.listener_count == 0
    with pytest.raises(AbortError):  # fast path on an aborted app signal: the body never runs
        call(abort_signal=app)


def test_a_nested_boundary_on_the_same_app_signal_registers_once() -> None:
    from abortkit import abort_scope, abortable_iter

    app = HandleSignal()
    with abort_scope(app):
        for _ in abortable_iter(range(2), app):
            assert app.listener_count == 1
    assert app.listener_count == 0


def test_idle_watchdog_follows_an_app_parent_only_inside_its_block() -> None:
    from abortkit import IdleWatchdog

    app = HandleSignal()
    dog = IdleWatchdog(30, parent=app)
    assert app.listener_count == 0
    with dog:
        assert app.listener_count == 1
        app.abort("esc")
        assert dog.signal.reason == "esc" and not dog.timed_out
    assert app.listener_count == 0
