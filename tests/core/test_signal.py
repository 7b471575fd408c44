"""AbortController / AbortSignal semantics: WHATWG behaviour, threads, re-entrancy, leaks."""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from typing import Any

import pytest

from abortkit import AbortController, AbortError, AbortSignal, ListenerRegistration
from abortkit._timer import pending_timers
from tests._helpers.waiting import wait_for


def test_abort_is_idempotent_and_the_first_reason_wins() -> None:
    controller = AbortController()
    assert not controller.signal.aborted
    assert controller.signal.reason is None
    assert controller.abort("first") is True
    assert controller.abort("second") is False
    assert controller.signal.aborted
    assert controller.signal.reason == "first"


@pytest.mark.parametrize("reason", [None, 0, "", ValueError("x"), object(), ("t", 1), KeyboardInterrupt()])
def test_reasons_of_any_type_are_kept_as_given(reason: object) -> None:
    controller = AbortController()
    controller.abort(reason)
    assert controller.signal.reason is reason


def test_throw_if_aborted() -> None:
    controller = AbortController()
    controller.signal.throw_if_aborted()  # no-op
    marker = object()
    controller.abort(marker)
    with pytest.raises(AbortError) as info:
        controller.signal.throw_if_aborted()
    assert info.value.reason is marker
    assert info.value.partial is None


def test_abort_error_is_an_exception_with_reason_and_partial() -> None:
    error = AbortError("esc", partial={"text": "hel"})
    assert isinstance(error, Exception)
    assert error.reason == "esc" and error.partial == {"text": "hel"}
    assert "esc" in str(error)
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert copy.reason == "esc" and copy.partial == {"text": "hel"}


def test_listener_runs_once_on_the_aborting_thread() -> None:
    controller = AbortController()
    calls: list[int] = []
    controller.signal.add_listener(lambda: calls.append(threading.get_ident()))
    assert calls == []
    controller.abort()
    controller.abort()
    assert calls == [threading.get_ident()]
    assert controller.signal.listener_count == 0


def test_listeners_run_in_registration_order() -> None:
    controller = AbortController()
    order: list[int] = []
    for index in range(5):
        controller.signal.add_listener(lambda index=index: order.append(index))  # type: ignore[misc]
    controller.abort()
    assert order == [0, 1, 2, 3, 4]


def test_add_listener_on_an_aborted_signal_runs_it_immediately() -> None:
    controller = AbortController()
    controller.abort()
    calls: list[str] = []
    registration = controller.signal.add_listener(lambda: calls.append("ran"))
    assert calls == ["ran"]
    assert registration.ran and not registration.pending
    assert registration.remove() is False


def test_remove_prevents_the_call_and_says_so() -> None:
    controller = AbortController()
    calls: list[str] = []
    registration = controller.signal.add_listener(lambda: calls.append("ran"))
    assert registration.pending
    assert controller.signal.listener_count == 1
    assert controller.signal.remove_listener(registration) is True
    assert registration.remove() is False  # idempotent
    assert controller.signal.listener_count == 0
    controller.abort()
    assert calls == []


def test_registration_is_a_context_manager() -> None:
    controller = AbortController()
    calls: list[str] = []
    with controller.signal.add_listener(lambda: calls.append("ran")):
        assert controller.signal.listener_count == 1
    assert controller.signal.listener_count == 0
    controller.abort()
    assert calls == []


def test_a_raising_listener_does_not_stop_the_others_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    controller = AbortController()
    calls: list[str] = []

    def bad() -> None:
        raise RuntimeError("listener bug")

    controller.signal.add_listener(lambda: calls.append("before"))
    controller.signal.add_listener(bad)
    controller.signal.add_listener(lambda: calls.append("after"))
    with caplog.at_level(logging.ERROR, logger="abortkit"):
        controller.abort()
    assert calls == ["before", "after"]
    records = [r for r in caplog.records if r.name == "abortkit"]
    assert len(records) == 1
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], RuntimeError)


def test_keyboard_interrupt_in_a_listener_runs_the_rest_then_propagates() -> None:
    controller = AbortController()
    calls: list[str] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    controller.signal.add_listener(interrupt)
    controller.signal.add_listener(lambda: calls.append("after"))
    with pytest.raises(KeyboardInterrupt):
        controller.abort()
    assert calls == ["after"]
    assert controller.signal.aborted


def test_abort_from_inside_a_listener_is_a_no_op_that_does_not_deadlock() -> None:
    controller = AbortController()
    calls: list[str] = []

    def reenter() -> None:
        assert controller.abort("nested") is False
        calls.append("outer")

    controller.signal.add_listener(reenter)
    controller.signal.add_listener(lambda: calls.append("second"))
    controller.abort("first")
    # The nested abort() keeps its promise (no earlier listener pending when it returns)
    # by draining the rest itself, so "second" runs inside it, before "outer" resumes.
    assert calls == ["second", "outer"]
    assert controller.signal.reason == "first"


def test_listener_added_from_inside_a_listener_runs() -> None:
    controller = AbortController()
    calls: list[str] = []
    controller.signal.add_listener(lambda: controller.signal.add_listener(lambda: calls.append("inner")))
    controller.abort()
    assert calls == ["inner"]


def test_listener_that_removes_itself_does_not_deadlock() -> None:
    controller = AbortController()
    holder: list[ListenerRegistration] = []
    result: list[bool] = []
    holder.append(controller.signal.add_listener(lambda: result.append(holder[0].remove())))
    controller.abort()
    assert result == [False]


def test_remove_waits_for_a_listener_running_on_another_thread() -> None:
    controller = AbortController()
    started, release = threading.Event(), threading.Event()
    finished: list[float] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        finished.append(time.monotonic())

    registration = controller.signal.add_listener(slow)
    aborter = threading.Thread(target=controller.abort)
    aborter.start()
    assert started.wait(5)
    removed_at: list[float] = []
    remover = threading.Thread(target=lambda: (registration.remove(), removed_at.append(time.monotonic())))
    remover.start()
    remover.join(0.2)
    assert remover.is_alive(), "remove() returned while the listener was still running"
    release.set()
    remover.join(5)
    aborter.join(5)
    assert finished and removed_at and removed_at[0] >= finished[0]


def _concurrent_abort_round() -> None:
    controller = AbortController()
    counts = [0] * 50
    lock = threading.Lock()

    def make(index: int) -> object:
        def listener() -> None:
            with lock:
                counts[index] += 1

        return listener

    for index in range(50):
        controller.signal.add_listener(make(index))  # type: ignore[arg-type]
    barrier = threading.Barrier(8)
    outcomes: list[tuple[int, bool]] = []

    def abort(n: int) -> None:
        barrier.wait()
        outcomes.append((n, controller.abort(n)))

    threads = [threading.Thread(target=abort, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == [1] * 50
    winners = [n for n, won in outcomes if won]
    assert len(winners) == 1
    assert controller.signal.reason == winners[0]  # the first reason wins, and it is the winner's


def test_concurrent_aborts_run_each_listener_exactly_once() -> None:
    for _ in range(20):
        _concurrent_abort_round()


def test_abort_returns_only_when_no_earlier_listener_is_pending() -> None:
    # A losing aborter helps drain, so after abort() returns nothing registered before it is pending.
    controller = AbortController()
    for _ in range(1000):
        controller.signal.add_listener(lambda: None)
    thread = threading.Thread(target=controller.abort)
    thread.start()
    controller.abort()
    assert controller.signal.listener_count == 0
    thread.join()


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("callback", [None, 1, "close"])
def test_add_listener_rejects_non_callables_and_registers_nothing(callback: object) -> None:
    signal = AbortController().signal
    with pytest.raises(TypeError, match="callable"):
        signal.add_listener(callback)  # type: ignore[arg-type]
    assert signal.listener_count == 0


def test_add_listener_rejects_a_non_bool_once() -> None:
    signal = AbortController().signal
    with pytest.raises(TypeError, match="once"):
        signal.add_listener(lambda: None, once="yes")  # type: ignore[arg-type]
    assert signal.listener_count == 0


def test_remove_listener_rejects_foreign_or_wrong_objects() -> None:
    one, two = AbortController(), AbortController()
    registration = one.signal.add_listener(lambda: None)
    with pytest.raises(TypeError, match="ListenerRegistration"):
        one.signal.remove_listener(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another signal"):
        two.signal.remove_listener(registration)
    assert one.signal.listener_count == 1


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (-1, ValueError),
        (-0.001, ValueError),
        (math.nan, ValueError),
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_timeout_rejects_bad_values(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="seconds"):
        AbortSignal.timeout(value)  # type: ignore[arg-type]


def test_controller_rejects_a_non_signal_parent() -> None:
    with pytest.raises(TypeError, match="parent"):
        AbortController(parent="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 3, AbortController().signal, [1]])
def test_any_rejects_non_signals_and_registers_nothing(value: object) -> None:
    parent = AbortController().signal
    arg = [parent, *value] if isinstance(value, list) else value
    with pytest.raises(TypeError):
        AbortSignal.any(arg)  # type: ignore[arg-type]
    assert parent.listener_count == 0


# -- dependent signals ---------------------------------------------------------------------


def test_any_follows_the_first_parent_to_abort() -> None:
    a, b = AbortController(), AbortController()
    combined = AbortSignal.any([a.signal, b.signal])
    assert not combined.aborted
    b.abort("b")
    assert combined.aborted and combined.reason == "b"
    a.abort("a")
    assert combined.reason == "b"


def test_any_with_an_aborted_parent_is_aborted_at_once() -> None:
    a, b = AbortController(), AbortController()
    b.abort("early")
    combined = AbortSignal.any([a.signal, b.signal])
    assert combined.aborted and combined.reason == "early"
    assert a.signal.listener_count == 0


def test_any_leaves_nothing_on_the_parents_once_aborted() -> None:
    parent, other = AbortController(), AbortController()
    combined = AbortSignal.any([parent.signal, other.signal])
    assert parent.signal.listener_count == 1 and other.signal.listener_count == 1
    other.abort()
    assert combined.aborted
    assert parent.signal.listener_count == 0 and other.signal.listener_count == 0


def test_dependents_leave_nothing_on_a_long_lived_parent_once_unreferenced() -> None:
    session = AbortController()
    for _ in range(1000):
        AbortSignal.any([session.signal])
        AbortController(parent=session.signal)
    gc.collect()
    assert session.signal.listener_count == 0


def test_child_controller_follows_its_parent_and_can_abort_alone() -> None:
    session = AbortController()
    turn = AbortController(parent=session.signal)
    turn.abort("turn only")
    assert turn.signal.aborted and not session.signal.aborted
    assert session.signal.listener_count == 0
    turn2 = AbortController(parent=session.signal)
    session.abort("quit")
    assert turn2.signal.aborted and turn2.signal.reason == "quit"


def test_child_of_an_aborted_parent_starts_aborted() -> None:
    parent = AbortController()
    parent.abort("gone")
    assert AbortController(parent=parent.signal).signal.reason == "gone"


def test_timeout_aborts_with_a_timeout_error() -> None:
    signal = AbortSignal.timeout(0.05)
    fired = threading.Event()
    signal.add_listener(fired.set)
    assert fired.wait(2)
    assert isinstance(signal.reason, TimeoutError)


def test_timeout_zero_and_infinity() -> None:
    zero = AbortSignal.timeout(0)
    never = AbortSignal.timeout(math.inf)
    deadline = time.monotonic() + 2
    while not zero.aborted and time.monotonic() < deadline:
        time.sleep(0.001)
    assert zero.aborted and not never.aborted


def test_unreferenced_timeouts_leave_nothing_behind() -> None:
    gc.collect()
    before = pending_timers()
    for _ in range(1000):
        AbortSignal.timeout(3600)
    gc.collect()
    assert pending_timers() == before


def test_already_aborted() -> None:
    signal = AbortSignal.already_aborted("r")
    assert signal.aborted and signal.reason == "r"


# -- remove() racing remove() of the same registration (found by the signal-storm stress run) --------


def _remove_running_action_after_its_pop(registration: ListenerRegistration, action: Any) -> tuple[bool, bool]:
    """``registration.remove()``, traced so that ``action()`` runs inside it right after its
    claiming pop succeeded and before it recorded the removal: the window a signal handler
    (or another thread) can land in. Returns (what remove() returned, whether action ran)."""
    import linecache
    import sys

    fired: list[bool] = []

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and not fired:
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            if line == "self._state = _REMOVED":
                fired.append(True)
                action()
        return local

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_name == "remove" and frame.f_code.co_filename.endswith("_signal.py"):
            return local
        return None

    sys.settrace(tracer)
    try:
        outer = registration.remove()
    finally:
        sys.settrace(None)
    return outer, bool(fired)


@pytest.mark.timeout(10)
def test_a_signal_handler_removing_the_registration_its_thread_is_removing_does_not_deadlock() -> None:
    """The signal-storm stress run hung here: main thread in ``remove()`` just after its pop,
    a signal handler on that thread calls ``remove()`` on the same registration; the handler
    waited for the callback to finish, which it never will (it was removed, not run)."""

    signal = AbortController().signal
    registration = signal.add_listener(lambda: None)
    nested: list[bool] = []

    def handler_like() -> None:  # runs on this thread, with the outer remove() on the stack
        result: list[bool] = []
        worker_done = threading.Event()

        def guard() -> None:  # if the nested call waits, report it instead of hanging the test
            if not worker_done.wait(2.0):
                nested.append(False)

        threading.Thread(target=guard, daemon=True).start()
        result.append(registration.remove())
        worker_done.set()
        nested.extend(result)

    outer, fired = _remove_running_action_after_its_pop(registration, handler_like)
    assert fired, "the line after remove()'s pop was not reached (remove changed?)"
    assert outer is True, "the outer remove() popped it: it prevented the run"
    assert nested and nested[0] is False, f"the nested remove() returned {nested}"
    assert not registration.pending and not registration.ran
    assert signal.listener_count == 0


@pytest.mark.timeout(10)
def test_remove_on_another_thread_during_a_removal_returns_once_the_removal_is_recorded() -> None:
    """Thread A's ``remove()`` has popped the registration and not yet recorded it; thread B's
    ``remove()`` of the same registration must not wait for a run that will never happen."""

    signal = AbortController().signal
    registration = signal.add_listener(lambda: None)
    other: list[Any] = []
    other_done = threading.Event()

    def start_other_thread() -> None:
        def run() -> None:
            other.append(registration.remove())
            other_done.set()

        threading.Thread(target=run, daemon=True).start()
        other_done.wait(0.3)  # B runs while A sits in the window

    outer, fired = _remove_running_action_after_its_pop(registration, start_other_thread)
    assert fired
    assert outer is True
    assert other_done.wait(2.0), "the other thread's remove() never returned (it waited for a run)"
    assert other == [False]


# -- found by mutation testing (docs/mutation-testing.md) ------------------------------------------


@pytest.mark.found_by_mutation
def test_timeout_signal_reason_names_the_delay() -> None:
    from abortkit import AbortSignal

    signal = AbortSignal.timeout(0.01)
    assert wait_for(lambda: signal.aborted)
    assert isinstance(signal.reason, TimeoutError)
    assert str(signal.reason) == "signal timed out after 0.01 s"
    with pytest.raises(AbortError):
        signal.throw_if_aborted()


@pytest.mark.found_by_mutation
def test_a_dependent_tripped_while_linking_leaves_nothing_on_any_parent() -> None:
    from abortkit import AbortSignal

    class TripsTheChildWhileLinking(AbortSignal):
        """Models another thread aborting the dependent just as this parent links to it."""

        def _link(self, child: AbortSignal) -> Any:
            link = super()._link(child)
            child._abort("raced")
            return link

    first = AbortController().signal
    racing = TripsTheChildWhileLinking()
    last = AbortController().signal
    combined = AbortSignal.any([first, racing, last])
    assert combined.aborted and combined.reason == "raced"
    assert first.listener_count == 0
    assert racing.listener_count == 0, "the link made after the abort was left on its parent"
    assert last.listener_count == 0, "a parent after the abort was linked anyway"


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
def test_add_listener_accepts_both_bools_for_once() -> None:
    signal = AbortController().signal
    assert signal.add_listener(lambda: None, once=False).pending
    assert signal.add_listener(lambda: None, once=True).pending
    assert signal.listener_count == 2


@pytest.mark.found_by_mutation
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


@pytest.mark.found_by_mutation
def test_a_dependent_that_aborts_marks_its_other_links_removed() -> None:
    from abortkit import AbortSignal

    first, second = AbortController(), AbortController()
    combined = AbortSignal.any([first.signal, second.signal])
    (link,) = list(second.signal._dependents)
    assert repr(link) == f"<link {second.signal!r} -> {combined!r}>"
    first.abort("first")
    assert combined.reason == "first"
    assert link not in second.signal._dependents
    assert second.signal.listener_count == 0


@pytest.mark.found_by_mutation
def test_a_fresh_signal_says_not_aborted_with_a_bool() -> None:
    controller = AbortController()
    assert controller.signal.aborted is False
    controller.abort()
    assert controller.signal.aborted is True
