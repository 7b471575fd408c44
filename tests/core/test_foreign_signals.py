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
