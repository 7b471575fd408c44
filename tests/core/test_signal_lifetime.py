"""Signal lifetime: a listener is never lost to the garbage collector.

The rule (see ``abortkit/_signal.py``): a signal that has listeners and can still abort
stays alive until it aborts or loses its listeners, whoever else holds it; a dependent
with no listeners, or one that is done, leaves nothing behind on its sources.
"""

from __future__ import annotations

import gc
import threading
import weakref

from abortkit import AbortController, AbortSignal
from abortkit._timer import pending_timers

WAIT = 5.0  # hang catch only


def _collect() -> None:
    gc.collect()  # the cycles (a registration and its signal) go in one pass


def test_an_unreferenced_timeout_with_a_listener_still_fires() -> None:
    fired = threading.Event()
    AbortSignal.timeout(0.05).add_listener(fired.set)
    _collect()
    assert fired.wait(WAIT), "the timeout was collected with its listener: the listener never ran"


def test_an_unreferenced_any_with_a_listener_still_follows_its_source() -> None:
    source = AbortController()
    fired = threading.Event()
    AbortSignal.any([source.signal]).add_listener(fired.set)
    _collect()
    source.abort("esc")
    assert fired.is_set()


def test_the_signal_of_a_dropped_child_controller_still_follows_its_parent() -> None:
    parent = AbortController()
    fired = threading.Event()
    child = AbortController(parent=parent.signal)
    child.signal.add_listener(fired.set)
    del child
    _collect()
    parent.abort("quit")
    assert fired.is_set()


def test_a_grandchild_listener_survives_its_dropped_ancestors() -> None:
    root = AbortController()
    fired = threading.Event()
    middle = AbortController(parent=root.signal)
    leaf = AbortSignal.any([AbortController(parent=middle.signal).signal])
    leaf.add_listener(fired.set)
    del middle, leaf
    _collect()
    root.abort()
    assert fired.is_set()


def test_an_any_of_an_unreferenced_timeout_with_a_listener_still_fires() -> None:
    fired = threading.Event()
    AbortSignal.any([AbortSignal.timeout(0.05)]).add_listener(fired.set)
    _collect()
    assert fired.wait(WAIT)


def test_a_dependent_whose_listeners_were_removed_is_collected_and_leaves_nothing() -> None:
    parent = AbortController()
    child = AbortSignal.any([parent.signal])
    registration = child.add_listener(lambda: None)
    alive = weakref.ref(child)
    del child
    _collect()
    assert alive() is not None, "kept alive by its pending listener"
    registration.remove()
    del registration
    _collect()
    assert alive() is None
    assert parent.signal.listener_count == 0


def test_a_timeout_whose_listener_was_removed_is_collected_and_cancels_its_timer() -> None:
    _collect()
    before = pending_timers()
    signal = AbortSignal.timeout(3600)
    registration = signal.add_listener(lambda: None)
    alive = weakref.ref(signal)
    del signal
    _collect()
    assert alive() is not None and pending_timers() == before + 1
    registration.remove()
    del registration
    _collect()
    assert alive() is None and pending_timers() == before


def test_a_done_dependent_leaves_nothing_on_its_sources() -> None:
    first, second = AbortController(), AbortController()
    combined = AbortSignal.any([first.signal, second.signal])
    combined.add_listener(lambda: None)
    first.abort()
    assert combined.aborted
    assert first.signal.listener_count == 0 and second.signal.listener_count == 0


def test_many_unreferenced_dependents_without_listeners_leave_nothing_on_a_long_lived_parent() -> None:
    session = AbortController()
    for _ in range(10_000):
        turn = AbortController(parent=session.signal)
        AbortSignal.any([turn.signal, session.signal])
        registration = turn.signal.add_listener(lambda: None)
        registration.remove()
    del turn, registration
    _collect()
    assert session.signal.listener_count == 0
