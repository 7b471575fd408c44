"""abort_on_sigint with real SIGINTs delivered to this process."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from abortkit import AbortController, abort_on_sigint


def deliver_sigint() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.01)  # the handler runs at the next bytecode boundary of the main thread


def test_first_ctrl_c_aborts_and_a_quick_second_raises() -> None:
    before = signal.getsignal(signal.SIGINT)
    controller = AbortController()
    with abort_on_sigint(controller, double_press_window=5.0):
        deliver_sigint()
        assert controller.signal.aborted
        assert isinstance(controller.signal.reason, KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            deliver_sigint()
        # the default came back at the second press
        assert signal.getsignal(signal.SIGINT) is before
    assert signal.getsignal(signal.SIGINT) is before


def test_presses_further_apart_than_the_window_only_abort() -> None:
    controller = AbortController()
    with abort_on_sigint(controller, double_press_window=0.0):
        deliver_sigint()
        time.sleep(0.01)
        deliver_sigint()  # outside the (zero) window: no KeyboardInterrupt
    assert controller.signal.aborted


def test_handler_is_removed_on_exit_even_on_error() -> None:
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError), abort_on_sigint(AbortController()):
        raise ValueError
    assert signal.getsignal(signal.SIGINT) is before


def test_bad_input_and_wrong_thread() -> None:
    with pytest.raises(TypeError, match="AbortController"):
        abort_on_sigint("c")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window"):
        abort_on_sigint(AbortController(), double_press_window=-1)
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            with abort_on_sigint(AbortController()):
                pass
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])


def _frames_left() -> int:
    """How many more nested Python calls this frame can make before RecursionError."""

    def probe(depth: int) -> int:
        try:
            return probe(depth + 1)
        except RecursionError:
            return depth

    return probe(0)


def test_ctrl_c_near_the_recursion_limit_still_runs_every_listener() -> None:
    # Ctrl-C lands wherever the main thread is, possibly a few frames short of the recursion
    # limit; the abort and its listeners (here one that needs 30 frames) must still run.
    controller = AbortController()
    reached: list[int] = []

    def listener(frames: int = 30) -> None:
        if frames:
            listener(frames - 1)
        else:
            reached.append(frames)

    controller.signal.add_listener(listener)

    def descend(remaining: int) -> None:
        if remaining > 0:
            descend(remaining - 1)
        else:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, at this depth

    with abort_on_sigint(controller):
        descend(_frames_left() - 4)
    assert controller.signal.aborted
    assert reached == [0], "the listener hit the recursion limit inside the Ctrl-C handler"
