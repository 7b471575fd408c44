"""``AbortController`` and ``AbortSignal``: the WHATWG pair, safe across threads and re-entrant.

Race analysis (read this before changing anything below)
--------------------------------------------------------
There is no lock on the hot paths. Every decision that two threads (or a thread and a
signal handler interrupting that same thread) could race on is made by ONE atomic
operation on a built-in container, which CPython performs without running Python code
in between (the keys are identity-hashed objects or interned ``str``):

* Who aborted first: ``self._box.setdefault("reason", mine) is mine``. Exactly one
  caller wins; its reason is the reason forever ("first reason wins"). Losers still
  set ``_aborted`` and help drain, so no ``abort()`` returns while a listener that was
  registered before it is still pending.
* Who runs a listener: ``self._pending.pop(registration, _MISSING)``. Whoever pops it
  owns it: the draining aborter (runs it), ``add_listener`` (runs it, when the signal
  tripped while it was registering) or ``remove()`` (prevents it). A registration can
  be popped once, so each listener runs at most once, and never after a successful
  ``remove()``.
* Lost wake-ups: ``add_listener`` inserts, *then* reads ``_aborted``; ``abort`` sets
  ``_aborted``, *then* drains. Whichever of the two runs second sees the other's
  write, so a listener is either drained by the aborter or claimed by its adder.

Why no lock: a ``threading.Lock`` deadlocks when a signal handler (Ctrl-C) interrupts
``add_listener``/``abort`` on the thread that holds it; an ``RLock`` would let the
handler enter the critical section half-way through and corrupt it. Atomic container
operations have neither problem.

Waiting for a running listener (the guarantee of .NET's registration ``Dispose`` and
Go's ``AfterFunc`` ``stop``): once ``remove()`` has returned, the callback is not
running and never will. If another thread is running it, ``remove()`` waits. If this
very thread is running it (the callback removes itself, or a signal handler
interrupted it), waiting would deadlock, so it does not wait; the thread-local
``_claims`` list, pushed *before* the claiming pop, tells which registrations this
thread is claiming or running, with no window in between.

Two removals of one registration: the loser of the pop waits until the winner has
recorded ``_REMOVED`` (a few bytecodes later; the winner notifies if anyone waits),
unless the winner is an outer ``remove()`` on this same thread that a signal handler
interrupted between its pop and its record: then it returns at once (the outer call
holds the outcome, and it would never record it while we wait). The cost of telling
that case apart (a walk up this thread's frames) is paid only on the slow path. In the
rarer case where that outer ``remove()`` itself lost the pop to a runner on another
thread, the nested call may return while the callback runs there; the outer call then
waits for it as usual once the handler returns.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any

from ._errors import AbortError
from ._validate import seconds as check_seconds

__all__ = ["AbortController", "AbortSignal", "ListenerRegistration"]

logger = logging.getLogger("abortkit")

_MISSING: Any = object()
_PENDING, _RUNNING, _DONE, _REMOVED = range(4)

_local = threading.local()
# Runners notify here when a callback finishes; only remove() of a callback running on
# another thread ever waits on it. RLock: a signal handler that aborts on a thread that
# is inside this condition's lock must not deadlock.
_finished = threading.Condition(threading.RLock())


def _claims() -> list[ListenerRegistration]:
    try:
        claims: list[ListenerRegistration] = _local.claims
    except AttributeError:
        claims = _local.claims = []
    return claims


class ListenerRegistration:
    """What ``AbortSignal.add_listener`` returns: the handle that detaches the listener.

    It is also a context manager (``with signal.add_listener(cb):``) that detaches on
    exit, like Node's disposable from ``events.addAbortListener``.
    """

    __slots__ = ("__weakref__", "_callback", "_once", "_signal", "_state", "_waited")

    def __init__(self, signal: AbortSignal, callback: Callable[[], object], once: bool) -> None:
        # Normally made by AbortSignal.add_listener (which registers it); made directly,
        # it is a detached registration, so its arguments are checked here too.
        if not isinstance(signal, AbortSignal):
            raise TypeError(f"ListenerRegistration signal must be an AbortSignal, not {type(signal).__name__}")
        if not callable(callback):
            raise TypeError(f"ListenerRegistration callback must be callable, not {type(callback).__name__}")
        if once is not True and once is not False:
            raise TypeError(f"ListenerRegistration once must be a bool, not {type(once).__name__}")
        self._init(signal, callback, once)

    def _init(self, signal: AbortSignal, callback: Callable[[], object], once: bool) -> None:
        self._signal = signal
        self._callback = callback
        self._once = once
        self._state = _PENDING
        self._waited = False

    @property
    def signal(self) -> AbortSignal:
        return self._signal

    @property
    def callback(self) -> Callable[[], object]:
        return self._callback

    @property
    def pending(self) -> bool:
        """True while the callback has neither run nor been removed."""
        return self._state == _PENDING

    @property
    def ran(self) -> bool:
        """True once the callback has started running (it is running or done)."""
        return self._state in (_RUNNING, _DONE)

    def remove(self) -> bool:
        """Detach the listener. Returns True if this call prevented it from running.

        After it returns, the callback is not running (unless on this very thread) and
        never will run. Idempotent.
        """
        # The common case inline (no abort happened): one atomic pop claims it.
        if self._signal._pending.pop(self, _MISSING) is not _MISSING:
            self._state = _REMOVED
            if self._waited:  # a remove() elsewhere waits for the outcome: see _detach
                _notify_finished()
            return True
        return self._detach(wait=True)

    def _detach(self, *, wait: bool) -> bool:
        if self._signal._pending.pop(self, _MISSING) is not _MISSING:
            self._state = _REMOVED
            if self._waited:
                _notify_finished()
            return True
        # Someone else popped it: a runner (state _PENDING until it starts, then _RUNNING,
        # then _DONE) or another remover (state _PENDING until it records _REMOVED). Wait
        # for the outcome, unless the popper is this very thread: the listener is running
        # here (it removes itself; a signal handler interrupted it: ``_claims``), or a
        # remove() of this registration was interrupted here, between its pop and its
        # record, by a signal handler that removes it again (found by the signal-storm
        # stress test: it deadlocked). That outer call holds the outcome; it prevented
        # the run if its pop won, so the nested call returns at once.
        if (
            wait
            and self._state != _DONE
            and self._state != _REMOVED
            and self not in _claims()
            and not self._being_removed_by_this_thread()
        ):
            self._wait_until_done()
        return False

    def _being_removed_by_this_thread(self) -> bool:
        """True if an enclosing frame of this thread is remove()/_detach() of ``self``.

        Only reached on the slow path (someone else popped the registration), so the
        frame walk costs nothing in the common case.
        """
        frame: FrameType | None = sys._getframe(1)
        # Our own entry first (_detach, and remove() if it called us), matched by identity
        # rather than counted; an outer removal is always separated from it by another frame
        # (the signal handler's, a finalizer's).
        while frame is not None and frame.f_code in _REMOVAL_CODES and frame.f_locals.get("self") is self:
            frame = frame.f_back
        while frame is not None:
            if frame.f_code in _REMOVAL_CODES and frame.f_locals.get("self") is self:
                return True
            frame = frame.f_back
        return False

    def _wait_until_done(self) -> None:
        with _finished:
            self._waited = True
            # The timeout is a safety net against a lost notify, not a deadline. A notify
            # cannot be lost: we set _waited and test the state while holding _finished;
            # _run and the removers set the state first, then read _waited, and notify
            # under _finished. Either one read _waited before we set it (then it had
            # already set the state, and our test sees it), or it notifies after we wait
            # (the lock orders it). A removal is an outcome too: the callback never runs.
            while self._state != _DONE and self._state != _REMOVED:
                _finished.wait(0.05)

    def _run(self) -> None:
        """Run the callback; the caller has claimed it by popping it from ``_pending``."""
        self._state = _RUNNING
        try:
            self._callback()
        except Exception:
            logger.exception("abort listener %r raised", self._callback)
        finally:
            self._state = _DONE
            if self._waited:
                _notify_finished()

    def __enter__(self) -> ListenerRegistration:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = ("pending", "running", "done", "removed")[self._state]
        return f"<ListenerRegistration {self._callback!r} {state}>"


_new_registration = object.__new__
_REMOVAL_CODES = (ListenerRegistration.remove.__code__, ListenerRegistration._detach.__code__)


def _notify_finished() -> None:
    with _finished:
        _finished.notify_all()


def _claim_and_run(pending: dict[ListenerRegistration, bool], registration: ListenerRegistration) -> None:
    claims = _claims()
    claims.append(registration)  # before the pop: see the module docstring
    try:
        if pending.pop(registration, _MISSING) is not _MISSING:
            registration._run()
    finally:
        claims.remove(registration)


class AbortSignal:
    """Read-only view of an abort: ``aborted``, ``reason``, and listeners.

    Signals are created by ``AbortController`` (or ``AbortSignal.any`` /
    ``AbortSignal.timeout``); user code never aborts a signal directly.
    """

    __slots__ = ("__weakref__", "_aborted", "_box", "_finalizer", "_pending", "_upstream")

    def __init__(self) -> None:
        self._aborted = False
        self._box: dict[str, tuple[Any]] = {}
        self._pending: dict[ListenerRegistration, bool] = {}
        self._upstream: list[ListenerRegistration] = []
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- state -----------------------------------------------------------------------
    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def reason(self) -> Any:
        """The reason given to the first ``abort()`` (any type, kept as given), else None."""
        box = self._box.get("reason")
        return None if box is None else box[0]

    @property
    def listener_count(self) -> int:
        """How many listeners are registered and have not run: for leak checks."""
        return len(self._pending)

    def throw_if_aborted(self) -> None:
        """Raise ``AbortError(reason)`` if the signal has tripped."""
        if self._aborted:
            raise AbortError(self.reason)

    # -- listeners -------------------------------------------------------------------
    def add_listener(self, callback: Callable[[], object], *, once: bool = True) -> ListenerRegistration:
        """Call ``callback()`` when the signal aborts, from the thread that aborts it.

        If the signal has already aborted, the callback runs now, on this thread, before
        this returns (as Node's ``addAbortListener`` and Go's ``AfterFunc`` do): a
        listener can never miss an abort, so callers need no register-then-recheck.
        A signal aborts at most once, so a callback runs at most once; ``once`` is
        accepted for WHATWG parity and must be a bool.
        """
        if once is not True and once is not False:
            raise TypeError(f"add_listener() once must be a bool, not {type(once).__name__}")
        if not callable(callback):
            raise TypeError(f"add_listener() callback must be callable, not {type(callback).__name__}")
        registration = _new_registration(ListenerRegistration)  # checked above: skip __init__'s checks
        registration._init(self, callback, once)
        pending = self._pending
        pending[registration] = True
        if self._aborted:
            _claim_and_run(pending, registration)
        return registration

    def remove_listener(self, registration: ListenerRegistration) -> bool:
        """Detach a listener; same as ``registration.remove()``."""
        if not isinstance(registration, ListenerRegistration):
            raise TypeError(
                "remove_listener() takes the ListenerRegistration that add_listener() returned, "
                f"not {type(registration).__name__}"
            )
        if registration._signal is not self:
            raise ValueError("remove_listener(): that registration belongs to another signal")
        return registration.remove()

    # -- aborting (controller side) ------------------------------------------------------
    def _abort(self, reason: Any) -> bool:
        """Trip the signal. Returns True if this call was the one that tripped it."""
        mine = (reason,)
        won = self._box.setdefault("reason", mine) is mine
        self._aborted = True
        if won:
            self._detach_upstream()
        self._drain()
        return won

    def _drain(self) -> None:
        pending = self._pending
        failure: BaseException | None = None
        while pending:
            try:
                registration = next(iter(pending))
            except (StopIteration, RuntimeError):  # emptied or resized under us: look again
                continue
            try:
                _claim_and_run(pending, registration)
            except BaseException as exc:  # KeyboardInterrupt in a listener: run the rest first
                failure = failure or exc
        if failure is not None:
            raise failure

    def _detach_upstream(self) -> None:
        # Never wait here: two parents aborting on two threads would wait on each other.
        for registration in self._upstream:
            registration._detach(wait=False)
        self._upstream = []
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def _follow(self, parents: Iterable[AbortSignal]) -> None:
        """Abort when any parent aborts, holding the parents only through listeners.

        The parents' listeners reference this signal weakly, and are removed as soon as
        this signal aborts (whoever aborts it) or is garbage collected, so a long-lived
        parent accumulates nothing.
        """
        me = weakref.ref(self)
        upstream: list[ListenerRegistration] = []
        self._upstream = upstream
        self._finalizer = weakref.finalize(self, _detach_all, upstream)
        for parent in parents:
            upstream.append(parent.add_listener(_Forward(me, parent)))
            if self._aborted:
                break
        if self._aborted:  # a parent tripped while we were linking
            _detach_all(upstream)

    # -- dependent signals -------------------------------------------------------------
    @classmethod
    def any(cls, signals: Iterable[AbortSignal]) -> AbortSignal:
        """A signal that aborts when any of ``signals`` does, with that signal's reason."""
        if isinstance(signals, AbortSignal):
            raise TypeError("AbortSignal.any() takes an iterable of signals, not a single signal")
        try:
            parents = list(signals)
        except TypeError:
            raise TypeError(
                f"AbortSignal.any() takes an iterable of AbortSignal, not {type(signals).__name__}"
            ) from None
        for parent in parents:
            if not isinstance(parent, AbortSignal):
                raise TypeError(f"AbortSignal.any() got a {type(parent).__name__}, not an AbortSignal")
        result = cls()
        for parent in parents:
            if parent._aborted:
                result._abort(parent.reason)
                return result
        result._follow(parents)
        return result

    @classmethod
    def timeout(cls, seconds: float) -> AbortSignal:
        """A signal that aborts after ``seconds`` with a ``TimeoutError`` reason.

        All timeouts share one timer thread; a timeout signal that is garbage
        collected before it fires leaves nothing behind.
        """
        value = check_seconds("AbortSignal.timeout() seconds", seconds)
        result = cls()
        if not math.isinf(value):
            from ._timer import call_later

            # The timer holds the signal weakly; dropping the signal cancels the timer.
            target = weakref.ref(result)
            handle = call_later(value, lambda: _time_out(target, value))
            result._finalizer = weakref.finalize(result, handle.cancel)
        return result

    @classmethod
    def already_aborted(cls, reason: Any = None) -> AbortSignal:
        """A signal that is aborted from the start (WHATWG ``AbortSignal.abort()``)."""
        result = cls()
        result._abort(reason)
        return result

    def __repr__(self) -> str:
        if self._aborted:
            return f"<AbortSignal aborted reason={self.reason!r}>"
        return f"<AbortSignal pending listeners={len(self._pending)}>"


class _Forward:
    """A parent's listener that aborts a dependent signal it holds only weakly."""

    __slots__ = ("_child", "_parent")

    def __init__(self, child: weakref.ref[AbortSignal], parent: AbortSignal) -> None:
        self._child = child
        self._parent = parent

    def __call__(self) -> None:
        child = self._child()
        if child is not None:
            child._abort(self._parent.reason)

    def __repr__(self) -> str:
        return f"<forward abort to {self._child()!r}>"


def _time_out(target: weakref.ref[AbortSignal], seconds: float) -> None:
    signal = target()
    if signal is not None:
        signal._abort(TimeoutError(f"signal timed out after {seconds:g} s"))


def _detach_all(registrations: list[ListenerRegistration]) -> None:
    for registration in registrations:
        registration._detach(wait=False)


class AbortController:
    """Owns one ``AbortSignal`` and is the only way to abort it.

    ``parent``: an optional signal this controller's signal follows (the per-turn
    controller of a REPL that also obeys a session-wide signal). The link is dropped
    when the child aborts or is garbage collected.
    """

    __slots__ = ("__weakref__", "_signal")

    def __init__(self, *, parent: AbortSignal | None = None) -> None:
        if parent is not None and not isinstance(parent, AbortSignal):
            raise TypeError(f"AbortController(parent=...) must be an AbortSignal, not {type(parent).__name__}")
        self._signal = AbortSignal()
        if parent is not None:
            if parent._aborted:
                self._signal._abort(parent.reason)
            else:
                self._signal._follow((parent,))

    @property
    def signal(self) -> AbortSignal:
        return self._signal

    def abort(self, reason: Any = None) -> bool:
        """Trip the signal and run its listeners on this thread.

        Idempotent and safe from any thread, from a listener, and from a signal
        handler; the first reason wins. Returns True if this call tripped the signal.
        Listener errors are logged on the ``abortkit`` logger and do not stop the
        other listeners.
        """
        return self._signal._abort(reason)

    def __repr__(self) -> str:
        return f"<AbortController signal={self._signal!r}>"
