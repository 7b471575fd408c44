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

Dispatch (WHATWG's dependent signals)
-------------------------------------
A signal made by ``AbortSignal.any()`` or ``AbortController(parent=...)`` is a
*dependent* of its sources: each source holds a ``_Link`` to it in ``_dependents``,
apart from its listeners. The abort of a source, exactly as WHATWG's "signal abort"
(abortkit's child controllers are dependents in the same way, at any depth):

1. the source's reason is set (the ``setdefault`` above); only the winner goes on;
2. every dependent not aborted yet, at any depth, is marked aborted with the source's
   reason, iteratively (no recursion: a chain of a thousand children is a loop), each
   by its own ``setdefault``, so a dependent reached twice, or already aborted through
   another source, is not marked again and keeps its first reason;
3. the source's listeners run, then each marked dependent's, in creation order.

So a source's listener that checks ``child.aborted`` sees True, and a listener that
aborts a second source cannot change the reason of an ``any()`` over both: the first
reason wins through every path. A dependent marked by someone else is that one's to
dispatch (a nested ``abort()`` of a second source skips it, as WHATWG does).

Linking: a new dependent inserts its link into the source's ``_dependents``, *then*
reads the source's ``_aborted``; ``abort`` sets ``_aborted``, *then* reads
``_dependents``. Whichever runs second sees the other's write (the same argument as
for listeners above), so a dependent linked while its source aborts is either marked
by the source or aborts itself with the source's reason; a linked dependent that has
aborted unlinks itself from every source.

Lifetime
--------
The rule: a signal that has listeners and can still abort stays alive until it aborts
or loses its listeners, whoever else holds it; a dependent with no listeners, or one
that is done, leaves nothing behind on its sources. How, without any bookkeeping on
``add_listener``/``remove``: a source's link holds the dependent weakly, but holds its
two tables (``_pending``, ``_dependents``) strongly, and every registration in them
references its signal. While a dependent has a pending listener (or a linked
dependent of its own), its source therefore keeps it alive; once its tables are empty
only the weak reference is left, the dependent is freed by reference counting when
its last user lets go, and the link's callback unlinks it from the source. The timer
holds a pending ``AbortSignal.timeout()`` the same way (``_TimeOut``), and a link holds
its source strongly, so an unreferenced timeout with an ``any()`` over it that has
listeners is kept too. A signal nothing can abort any more (its sources are gone) is
garbage together with its listeners, which could never run.

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

import itertools
import logging
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from ._errors import AbortError
from ._validate import seconds as check_seconds

if TYPE_CHECKING:
    from ._timer import TimerHandle

__all__ = ["AbortController", "AbortSignal", "ListenerRegistration"]

logger = logging.getLogger("abortkit")

_MISSING: Any = object()
_PENDING, _RUNNING, _DONE, _REMOVED = range(4)

_local = threading.local()
# Runners notify here when a callback finishes; only remove() of a callback running on
# another thread ever waits on it. RLock: a signal handler that aborts on a thread that
# is inside this condition's lock must not deadlock.
_finished = threading.Condition(threading.RLock())


def _after_fork_in_child() -> None:
    """A thread that held ``_finished`` at the fork does not exist in the child."""
    global _finished
    _finished = threading.Condition(threading.RLock())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


class _Link(weakref.ref):  # type: ignore[type-arg]
    """A source's reference to one of its dependents (an ``any()`` or a child's signal).

    A weak reference to the dependent, whose callback unlinks it when the dependent is
    collected, plus strong references to the dependent's two tables: while the dependent
    has a pending listener (or a linked dependent of its own), the registration in that
    table references it, so the source keeps it alive (the lifetime rule in the module
    docstring). The link holds its source strongly too: a source with a dependent that
    still matters (an unreferenced ``AbortSignal.timeout()`` with an ``any()`` over it)
    is kept alive by the same chain.
    """

    __slots__ = ("dependents", "pending", "source")

    source: AbortSignal
    pending: dict[ListenerRegistration, bool]
    dependents: dict[_Link, bool]

    def __new__(cls, child: AbortSignal, source: AbortSignal) -> _Link:
        return super().__new__(cls, child, _unlink)

    def __init__(self, child: AbortSignal, source: AbortSignal) -> None:
        # (weakref.ref.__init__ only checks its arguments: __new__ made the reference)
        self.source = source
        self.pending = child._pending
        self.dependents = child._dependents

    def __repr__(self) -> str:
        return f"<link {self.source!r} -> {self()!r}>"


def _unlink(link: _Link) -> None:
    """Drop one link from its source (idempotent; lock-free, as weakref callbacks must be)."""
    link.source._dependents.pop(link, None)


def _unlink_all(links: list[_Link]) -> None:
    for link in links:
        _unlink(link)


def _snapshot(table: dict[Any, bool]) -> list[Any]:
    """The keys of ``table`` now, in insertion order, whatever other threads do to it."""
    while True:
        try:
            return list(table)
        except RuntimeError as exc:  # resized during the copy: copy again
            if isinstance(exc, RecursionError):
                raise


TIMER_RESOLUTION = 0.001  # the earliest a timeout fires after timeout() returned (seconds)
_serials = itertools.count()  # creation order of signals; next() is atomic


class AbortSignal:
    """Read-only view of an abort: ``aborted``, ``reason``, and listeners.

    Signals are created by ``AbortController`` (or ``AbortSignal.any`` /
    ``AbortSignal.timeout``); user code never aborts a signal directly.
    """

    __slots__ = ("__weakref__", "_aborted", "_box", "_dependents", "_pending", "_serial", "_upstream")

    def __init__(self) -> None:
        self._aborted = False
        self._box: dict[str, tuple[Any]] = {}
        self._pending: dict[ListenerRegistration, bool] = {}
        self._dependents: dict[_Link, bool] = {}
        self._upstream: list[_Link] = []
        self._serial = next(_serials)

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
        """Listeners registered that have not run, plus linked dependents: for leak checks."""
        return len(self._pending) + len(self._dependents)

    def throw_if_aborted(self) -> None:
        """Raise ``AbortError(reason)`` if the signal has tripped."""
        if self._aborted:
            raise AbortError(self.reason)

    # -- listeners -------------------------------------------------------------------
    def add_listener(self, callback: Callable[[], object], *, once: bool = True) -> ListenerRegistration:
        """Call ``callback()`` when the signal aborts, from the thread that aborts it.

        If the signal has already aborted, the callback runs now, on this thread, before
        this returns: a listener can never miss an abort, and the caller needs no
        register-then-recheck. (.NET's ``CancellationToken.Register`` and
        ``concurrent.futures.Future.add_done_callback`` do the same. Node's
        ``addAbortListener`` defers the call to a microtask and Go's ``AfterFunc`` to a
        goroutine; Python has no queue that every thread, loop and signal handler
        shares, and deferring to a thread would let the caller go on, e.g. send a
        request, before the callback has closed what it guards.)
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
        """Trip the signal. Returns True if this call was the one that tripped it.

        WHATWG's "signal abort": the reason first, then every dependent marked aborted
        with it (before any listener runs), then this signal's listeners, then each
        dependent's, in creation order. See "Dispatch" in the module docstring.
        """
        mine = (reason,)
        won = self._box.setdefault("reason", mine) is mine
        self._aborted = True  # before reading _dependents: see "Linking" in the module docstring
        marked = self._mark_dependents(mine) if won else _NONE
        if won:
            _unlink_all(self._upstream)
        failure = self._drain(None)
        for dependent in marked:
            failure = dependent._drain(failure)
        if failure is not None:
            raise failure
        return won

    def _mark_dependents(self, box: tuple[Any]) -> list[AbortSignal]:
        """Mark every dependent not yet aborted, at any depth, with ``box``'s reason.

        Iterative (a chain of a thousand children is a loop, not a recursion); a
        dependent already aborted (through another source, or on another thread) is not
        ours to dispatch, nor are its dependents. Returns them in creation order.
        """
        marked: list[AbortSignal] = []
        sources = [self]
        while sources:
            for link in _snapshot(sources.pop()._dependents):
                child = link()
                if child is None:
                    continue
                mine = (box[0],)
                if child._box.setdefault("reason", mine) is mine:  # else: reached twice, or not ours
                    child._aborted = True
                    marked.append(child)
                    sources.append(child)
        for child in marked:
            _unlink_all(child._upstream)
        if len(marked) > 1:
            marked.sort(key=_creation_order)
        return marked

    def _drain(self, failure: BaseException | None) -> BaseException | None:
        """Run every pending listener, in registration order; linear in their number.

        Copies the table and claims each registration from the copy (listeners added
        meanwhile are in the next copy). Returns the first ``BaseException`` a listener
        raised (``failure`` if there was one already): the rest run first.
        """
        pending = self._pending
        while pending:
            for registration in _snapshot(pending):
                try:
                    _claim_and_run(pending, registration)
                except BaseException as exc:  # KeyboardInterrupt in a listener: run the rest first
                    failure = failure or exc
        return failure

    def _link(self, child: AbortSignal) -> _Link:
        link = _Link(child, self)
        self._dependents[link] = True
        return link

    def _follow(self, parents: Iterable[AbortSignal]) -> None:
        """Abort when any parent aborts, as a dependent of each (see "Lifetime")."""
        upstream = self._upstream
        for parent in parents:
            upstream.append(parent._link(self))
            if parent._aborted:  # tripped while we were linking: it may have missed us
                self._abort(parent.reason)
                break
        if self._aborted:  # links made after the abort unlinked the others
            _unlink_all(upstream)

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
        result._follow(dict.fromkeys(parents))  # each parent once, in order (WHATWG's ordered set)
        return result

    @classmethod
    def timeout(cls, seconds: float) -> AbortSignal:
        """A signal that aborts after ``seconds`` with a ``TimeoutError`` reason.

        All timeouts share one timer (``_timer.py``). A timeout never fires before
        ``timeout()`` has returned: the timer entry is its last step, and it is due no
        sooner than ``TIMER_RESOLUTION`` (1 ms) after that, as browsers clamp
        ``setTimeout(0)``, so that ``timeout(0)`` returns a signal that has not aborted
        yet even when the thread loses the GIL right there. A timeout signal that is
        garbage collected before it fires leaves nothing behind; one with listeners is
        not collected (see "Lifetime").
        """
        value = check_seconds("AbortSignal.timeout() seconds", seconds)
        result = cls()
        if math.isinf(value):
            return result
        from ._timer import TimerHandle, schedule

        deadline = time.monotonic() + value
        handle = TimerHandle(None)
        handle.callback = _TimeOut(result, handle, value).fire
        # One line: nothing of ours runs between arming the timer and returning
        # (schedule() returns None; it arms the timer under its lock, as its last step).
        return schedule(handle, deadline, not_before=TIMER_RESOLUTION) or result  # type: ignore[func-returns-value]

    @classmethod
    def already_aborted(cls, reason: Any = None) -> AbortSignal:
        """A signal that is aborted from the start (WHATWG ``AbortSignal.abort()``)."""
        result = cls()
        result._abort(reason)
        return result

    def __repr__(self) -> str:
        if self._aborted:
            return f"<AbortSignal aborted reason={self.reason!r}>"
        return f"<AbortSignal pending listeners={self.listener_count}>"


_NONE: list[AbortSignal] = []


def _creation_order(signal: AbortSignal) -> int:
    return signal._serial


class _TimeOut(weakref.ref):  # type: ignore[type-arg]
    """The timer's callback for one ``AbortSignal.timeout()``: aborts the signal.

    A weak reference whose callback cancels the timer when the signal is collected,
    plus strong references to the signal's tables, so that a timeout with listeners
    (or with dependents that have some) is kept alive by the timer until it fires.
    """

    __slots__ = ("dependents", "handle", "pending", "seconds")

    handle: TimerHandle | None
    pending: dict[ListenerRegistration, bool]
    dependents: dict[_Link, bool]
    seconds: float

    def __new__(cls, signal: AbortSignal, handle: TimerHandle, seconds: float) -> _TimeOut:
        return super().__new__(cls, signal, _cancel_time_out)

    def __init__(self, signal: AbortSignal, handle: TimerHandle, seconds: float) -> None:
        self.handle = handle  # a cycle through the handle, broken when it fires or is cancelled
        self.pending = signal._pending
        self.dependents = signal._dependents
        self.seconds = seconds

    def fire(self) -> None:
        self.handle = None
        signal = self()
        if signal is not None:
            signal._abort(TimeoutError(f"signal timed out after {self.seconds:g} s"))


def _cancel_time_out(target: _TimeOut) -> None:
    handle, target.handle = target.handle, None
    if handle is not None:
        handle.cancel()


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
