"""Bad input for ``abortkit``'s public names: wrong types and values, refused clearly, leaving nothing.

The rows of the ``abortkit`` package; the mechanism (what every row checks around the
failed call) is in ``tests/_helpers/bad_input.py``, and the guard that every public name
has a row in ``tests/test_public_names.py``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from abortkit import (
    AbortableAsyncNetworkBackend,
    AbortableNetworkBackend,
    AbortController,
    AbortError,
    AbortSignal,
    IdleWatchdog,
    ListenerRegistration,
    abort_on_sigint,
    abort_scope,
    abortable,
    abortable_iter,
    close_on_abort,
    current_signals,
    instrument,
)
from abortkit.testing import MockLLMServer
from tests._helpers.bad_input import Env, Row, Table, _client_not_instrumented, check_row
from tests._helpers.messages import SIGNAL_ACCEPTED_RE

CORE = "abortkit"


# -- helpers used by the rows ----------------------------------------------------------------


class Closable:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class AsyncClosable:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def _sync_with_on_async_response(env: Env) -> None:
    response = AsyncClosable()
    env.last = response
    with close_on_abort(env.parent, response):
        env.calls += 1


def _close_on_abort_twice(env: Env) -> None:
    guard = close_on_abort(env.parent, Closable())
    with guard:
        pass
    with guard:
        env.calls += 1


def _scope_reentered(env: Env) -> None:
    scope = abort_scope(env.parent)
    with scope:
        inside = current_signals()
        try:
            scope.__enter__()
        finally:
            assert current_signals() == inside, "a failed re-entry changed the scope stack"


def _sigint_off_main_thread(env: Env) -> None:
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with abort_on_sigint(env.controller):
                env.calls += 1
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    raise failure[0]


def _decorated(kind: str, env: Env) -> Callable[..., Any]:
    if kind == "plain":

        @abortable
        def plain(x: int, abort_signal: AbortSignal | None = None) -> int:
            env.calls += 1
            return x

        return plain
    if kind == "generator":

        @abortable
        def gen(x: int, abort_signal: AbortSignal | None = None) -> Iterator[int]:
            env.calls += 1
            yield x

        return gen
    if kind == "coroutine":

        @abortable
        async def coro(x: int, abort_signal: AbortSignal | None = None) -> int:
            env.calls += 1
            return x

        return coro

    @abortable
    async def agen(x: int, abort_signal: AbortSignal | None = None) -> Any:
        env.calls += 1
        yield x

    return agen


def _call_decorated(kind: str, how: str) -> Callable[[Env], object]:
    def call(env: Env) -> object:
        function = _decorated(kind, env)
        return function(1, abort_signal="esc") if how == "keyword" else function(1, "esc")

    return call


def _body_did_not_run(env: Env) -> None:
    assert env.calls == 0, "the body ran although the call was refused"


def _body_did_not_run_and_response_open(env: Env) -> None:
    _body_did_not_run(env)
    assert not env.last.closed, "a refused close_on_abort closed the response"


def _source_generator(env: Env) -> Iterator[int]:
    env.calls += 1
    yield 1


def _iter_bad_signal(env: Env) -> object:
    return abortable_iter(_source_generator(env), "esc")


class _NoPoolTransport(httpx2.BaseTransport):
    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("never called")


def _client_with_bad_mount(env: Env) -> object:
    client = httpx2.Client(mounts={"all://example.invalid": _NoPoolTransport()})
    env.client = client
    try:
        return instrument(client)
    finally:
        client.close()



def _remove_foreign_registration(env: Env) -> object:
    other = AbortController().signal
    env.other = other
    registration = other.add_listener(lambda: None)
    return env.parent.remove_listener(registration)


def _foreign_registration_still_pending(env: Env) -> None:
    assert env.other.listener_count == 1, "remove_listener() on the wrong signal removed the listener"


HUGE = 10**400  # a Real that float() cannot represent


class _AddOnly:
    """A signal-like object abortkit could not detach from."""

    aborted = False

    def add_listener(self, callback: object) -> None:
        pass


class _CancelScopeLike:
    cancel_called = False

    def cancel(self) -> None:
        pass

# -- the table -------------------------------------------------------------------------------

ROWS: list[Row] = [
    # AbortController
    Row(
        "controller-parent-str",
        f"{CORE}:AbortController",
        lambda e: AbortController(parent="esc"),
        TypeError,
        r"AbortController\(parent=\.\.\.\) must be an AbortSignal, not str",
    ),
    Row(
        "controller-parent-controller",
        f"{CORE}:AbortController",
        lambda e: AbortController(parent=e.controller),
        TypeError,
        r"must be an AbortSignal, not AbortController",
    ),
    Row(
        "controller-positional",
        f"{CORE}:AbortController",
        lambda e: AbortController(e.parent),
        TypeError,
        r"takes 1 positional argument",
    ),
    # AbortError
    Row(
        "abort-error-extra-positional",
        f"{CORE}:AbortError",
        lambda e: AbortError("esc", "partial"),
        TypeError,
        r"positional argument",
    ),
    Row(
        "abort-error-unknown-keyword",
        f"{CORE}:AbortError",
        lambda e: AbortError("esc", partials=1),
        TypeError,
        r"unexpected keyword argument 'partials'",
    ),
    # AbortSignal
    Row(
        "signal-constructor-args",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal(True),
        TypeError,
        r"takes 1 positional argument",
    ),
    Row(
        "any-single-signal",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.any(e.parent),
        TypeError,
        r"iterable of signals, not a single signal",
    ),
    Row(
        "any-not-iterable",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.any(5),
        TypeError,
        r"iterable of AbortSignal, not int",
    ),
    Row(
        "any-bad-member",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.any([e.parent, 5]),
        TypeError,
        r"got a int, not an AbortSignal",
    ),
    Row(
        "any-controller-member",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.any([e.parent, e.controller]),
        TypeError,
        r"got a AbortController, not an AbortSignal",
    ),
    Row(
        "any-string",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.any("ab"),
        TypeError,
        r"got a str, not an AbortSignal",
    ),
    Row(
        "timeout-str",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout("1"),
        TypeError,
        r"AbortSignal\.timeout\(\) seconds must be a number, not str",
    ),
    Row(
        "timeout-bool",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout(True),
        TypeError,
        r"seconds must be a number, not bool",
    ),
    Row(
        "timeout-none",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout(None),
        TypeError,
        r"seconds must be a number, not NoneType",
    ),
    Row(
        "timeout-negative",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout(-1),
        ValueError,
        r"seconds must be >= 0, not -1",
    ),
    Row(
        "timeout-nan",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout(math.nan),
        ValueError,
        r"seconds must be >= 0, not nan",
    ),
    Row(
        "timeout-huge-int",
        f"{CORE}:AbortSignal",
        lambda e: AbortSignal.timeout(HUGE),
        ValueError,
        r"seconds",
    ),
    Row(
        "add-listener-not-callable",
        f"{CORE}:AbortSignal",
        lambda e: e.parent.add_listener(5),
        TypeError,
        r"add_listener\(\) callback must be callable, not int",
    ),
    Row(
        "add-listener-none",
        f"{CORE}:AbortSignal",
        lambda e: e.parent.add_listener(None),
        TypeError,
        r"callback must be callable, not NoneType",
    ),
    Row(
        "add-listener-once-int",
        f"{CORE}:AbortSignal",
        lambda e: e.parent.add_listener(print, once=1),
        TypeError,
        r"add_listener\(\) once must be a bool, not int",
    ),
    Row(
        "remove-listener-not-registration",
        f"{CORE}:AbortSignal",
        lambda e: e.parent.remove_listener(print),
        TypeError,
        r"takes the ListenerRegistration that add_listener\(\) returned, not builtin_function_or_method",
    ),
    Row(
        "remove-listener-foreign",
        f"{CORE}:AbortSignal",
        _remove_foreign_registration,
        ValueError,
        r"belongs to another signal",
        check=_foreign_registration_still_pending,
    ),
    # Network backends
    Row(
        "backend-no-inner",
        f"{CORE}:AbortableNetworkBackend",
        lambda e: AbortableNetworkBackend(),
        TypeError,
        r"missing 1 required positional argument: 'inner'",
    ),
    Row(
        "backend-none",
        f"{CORE}:AbortableNetworkBackend",
        lambda e: AbortableNetworkBackend(None),
        TypeError,
        r"backend",
    ),
    Row(
        "async-backend-no-inner",
        f"{CORE}:AbortableAsyncNetworkBackend",
        lambda e: AbortableAsyncNetworkBackend(),
        TypeError,
        r"missing 1 required positional argument: 'inner'",
    ),
    Row(
        "async-backend-object",
        f"{CORE}:AbortableAsyncNetworkBackend",
        lambda e: AbortableAsyncNetworkBackend(object()),
        TypeError,
        r"backend",
    ),
    # SignalLike: what an app's own signal must offer
    Row(
        "signal-like-without-remove-listener",
        f"{CORE}:SignalLike",
        lambda e: abort_scope(_AddOnly()),
        TypeError,
        r"abort_scope\(\) signal: a _AddOnly has add_listener but no remove_listener",
    ),
    Row(
        "signal-like-cancel-scope",
        f"{CORE}:SignalLike",
        lambda e: abortable_iter([], _CancelScopeLike()),
        TypeError,
        r"abortable_iter\(\) signal: a _CancelScopeLike is not a signal: it already cancels the awaits",
    ),
    # IdleWatchdog
    Row(
        "watchdog-str",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog("5"),
        TypeError,
        r"IdleWatchdog idle_timeout must be a number, not str",
    ),
    Row(
        "watchdog-bool",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(True),
        TypeError,
        r"idle_timeout must be a number, not bool",
    ),
    Row(
        "watchdog-zero",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(0, parent=e.parent),
        ValueError,
        r"idle_timeout must be a positive finite number, not 0",
    ),
    Row(
        "watchdog-negative",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(-1.5, parent=e.parent),
        ValueError,
        r"positive finite number, not -1\.5",
    ),
    Row(
        "watchdog-nan",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(math.nan, parent=e.parent),
        ValueError,
        r"positive finite number, not nan",
    ),
    Row(
        "watchdog-inf",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(math.inf, parent=e.parent),
        ValueError,
        r"positive finite number, not inf",
    ),
    Row(
        "watchdog-first-timeout-zero",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, first_timeout=0),
        ValueError,
        r"IdleWatchdog first_timeout must be a positive finite number, not 0",
    ),
    Row(
        "watchdog-count-bytes-int",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, count_bytes=1),  # type: ignore[arg-type]
        TypeError,
        r"IdleWatchdog count_bytes must be a bool, not int",
    ),
    Row(
        "watchdog-on-quiet-not-callable",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, on_quiet="warn"),  # type: ignore[arg-type]
        TypeError,
        r"IdleWatchdog on_quiet must be callable or None, not str",
    ),
    Row(
        "watchdog-quiet-after-without-hook",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, quiet_after=2),
        ValueError,
        r"IdleWatchdog quiet_after needs an on_quiet callback",
    ),
    Row(
        "watchdog-error-not-callable",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, error=TimeoutError()),  # type: ignore[arg-type]
        TypeError,
        r"IdleWatchdog error must be callable or None, not TimeoutError",
    ),
    Row(
        "watchdog-set-timeout-negative",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5).set_timeout(-1),
        ValueError,
        r"IdleWatchdog.set_timeout\(\) idle_timeout must be a positive finite number, not -1",
    ),
    Row(
        "watchdog-parent-str",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, parent="esc"),
        TypeError,
        rf"IdleWatchdog parent {SIGNAL_ACCEPTED_RE} str",
    ),
    Row(
        "watchdog-parent-controller",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, parent=e.controller),
        TypeError,
        rf"parent {SIGNAL_ACCEPTED_RE} AbortController \(pass its \.signal\)",
    ),
    Row(
        "watchdog-huge-int",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(HUGE, parent=e.parent),
        ValueError,
        r"idle_timeout",
    ),
    # ListenerRegistration
    Row(
        "registration-not-a-signal",
        f"{CORE}:ListenerRegistration",
        lambda e: ListenerRegistration("esc", print, True),
        TypeError,
        r"signal",
    ),
    Row(
        "registration-no-args",
        f"{CORE}:ListenerRegistration",
        lambda e: ListenerRegistration(),
        TypeError,
        r"missing 3 required positional arguments",
    ),
    # abort_on_sigint
    Row(
        "sigint-signal-not-controller",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.parent),
        TypeError,
        r"abort_on_sigint\(\) needs an AbortController, not AbortSignal",
    ),
    Row(
        "sigint-none",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(None),
        TypeError,
        r"needs an AbortController, not NoneType",
    ),
    Row(
        "sigint-window-str",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.controller, double_press_window="1"),
        TypeError,
        r"double_press_window must be a number",
    ),
    Row(
        "sigint-window-bool",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.controller, double_press_window=True),
        TypeError,
        r"double_press_window must be a number",
    ),
    Row(
        "sigint-window-negative",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.controller, double_press_window=-0.5),
        ValueError,
        r"double_press_window must be >= 0, not -0\.5",
    ),
    Row(
        "sigint-window-nan",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.controller, double_press_window=math.nan),
        ValueError,
        r"double_press_window must be >= 0, not nan",
    ),
    Row(
        "sigint-window-huge-int",
        f"{CORE}:abort_on_sigint",
        lambda e: abort_on_sigint(e.controller, double_press_window=HUGE),
        ValueError,
        r"double_press_window",
    ),
    Row(
        "sigint-off-main-thread",
        f"{CORE}:abort_on_sigint",
        _sigint_off_main_thread,
        RuntimeError,
        r"must be used on the main thread",
        check=_body_did_not_run,
    ),
    # abort_scope / current_signals
    Row(
        "scope-str",
        f"{CORE}:abort_scope",
        lambda e: abort_scope("esc"),
        TypeError,
        rf"abort_scope\(\) signal {SIGNAL_ACCEPTED_RE} str",
    ),
    Row(
        "scope-controller",
        f"{CORE}:abort_scope",
        lambda e: abort_scope(e.controller),
        TypeError,
        rf"{SIGNAL_ACCEPTED_RE} AbortController \(pass its \.signal\)",
    ),
    Row("scope-reentered", f"{CORE}:abort_scope", _scope_reentered, RuntimeError, r"not re-entrant"),
    Row(
        "current-signals-args",
        f"{CORE}:current_signals",
        lambda e: current_signals(e.parent),
        TypeError,
        r"takes 0 positional arguments",
    ),
    # abortable
    Row(
        "abortable-not-callable",
        f"{CORE}:abortable",
        lambda e: abortable(5),
        TypeError,
        r"@abortable decorates a function or method, not int",
    ),
    Row(
        "abortable-param-int",
        f"{CORE}:abortable",
        lambda e: abortable(signal_param=5),
        TypeError,
        r"@abortable\(signal_param=\.\.\.\) must be a parameter name, not 5",
    ),
    Row(
        "abortable-param-not-identifier",
        f"{CORE}:abortable",
        lambda e: abortable(signal_param="abort signal"),
        TypeError,
        r"must be a parameter name, not 'abort signal'",
    ),
    Row(
        "abortable-factory-not-callable",
        f"{CORE}:abortable",
        lambda e: abortable(signal_param="signal")(5),
        TypeError,
        r"decorates a function or method, not int",
    ),
    Row(
        "abortable-no-such-parameter",
        f"{CORE}:abortable",
        lambda e: abortable(lambda x: x),
        TypeError,
        r"has no parameter named 'abort_signal'",
    ),
    Row(
        "abortable-var-positional",
        f"{CORE}:abortable",
        lambda e: abortable(lambda *abort_signal: None),
        TypeError,
        r"'abort_signal' of .*<lambda>\(\) must be a named parameter",
    ),
    Row(
        "abortable-var-keyword",
        f"{CORE}:abortable",
        lambda e: abortable(lambda **abort_signal: None),
        TypeError,
        r"must be a named parameter",
    ),
    *[
        Row(
            f"abortable-call-{kind}-{how}",
            f"{CORE}:abortable",
            _call_decorated(kind, how),
            TypeError,
            rf"argument 'abort_signal' {SIGNAL_ACCEPTED_RE} str",
            check=_body_did_not_run,
        )
        for kind in ("plain", "generator", "coroutine", "async-generator")
        for how in ("keyword", "positional")
    ],
    # abortable_iter
    Row(
        "iter-not-iterable",
        f"{CORE}:abortable_iter",
        lambda e: abortable_iter(5, e.parent),
        TypeError,
        r"abortable_iter\(\) needs an iterable or async iterable, not int",
    ),
    Row(
        "iter-none-signal-not-iterable",
        f"{CORE}:abortable_iter",
        lambda e: abortable_iter(None, None),
        TypeError,
        r"needs an iterable or async iterable, not NoneType",
    ),
    Row(
        "iter-bad-signal",
        f"{CORE}:abortable_iter",
        _iter_bad_signal,
        TypeError,
        rf"abortable_iter\(\) signal {SIGNAL_ACCEPTED_RE} str",
        check=_body_did_not_run,
    ),
    # close_on_abort
    Row(
        "close-bad-signal",
        f"{CORE}:close_on_abort",
        lambda e: close_on_abort("esc", Closable()),
        TypeError,
        rf"close_on_abort\(\) signal {SIGNAL_ACCEPTED_RE} str",
    ),
    Row(
        "close-none-response",
        f"{CORE}:close_on_abort",
        lambda e: close_on_abort(e.parent, None),
        TypeError,
        r"close_on_abort\(\) needs a response to close, not None",
    ),
    Row(
        "close-unclosable",
        f"{CORE}:close_on_abort",
        lambda e: close_on_abort(e.parent, 5),
        TypeError,
        r"cannot close a builtins\.int",
    ),
    Row(
        "close-sync-with-on-async",
        f"{CORE}:close_on_abort",
        _sync_with_on_async_response,
        TypeError,
        r"a AsyncClosable closes asynchronously; use `async with close_on_abort",
        check=_body_did_not_run_and_response_open,
    ),
    Row(
        "close-reused",
        f"{CORE}:close_on_abort",
        _close_on_abort_twice,
        RuntimeError,
        r"single use",
        check=_body_did_not_run,
    ),
    # instrument
    Row(
        "instrument-int",
        f"{CORE}:instrument",
        lambda e: instrument(5),
        TypeError,
        r"instrument\(\) needs an httpx/httpx2 client or an SDK client, not int",
    ),
    Row("instrument-none", f"{CORE}:instrument", lambda e: instrument(None), TypeError, r"not NoneType"),
    Row(
        "instrument-bad-mount",
        f"{CORE}:instrument",
        _client_with_bad_mount,
        TypeError,
        r"cannot reach the connection pool of a _NoPoolTransport",
        check=_client_not_instrumented,
    ),
]

EXEMPT: dict[str, str] = {
    f"{CORE}:__version__": "a str, not callable",
    f"{CORE}:IdleTimeoutError": "an exception type: any message, like its base TimeoutError",
}

TABLE = Table(CORE, ROWS, EXEMPT)


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", TABLE.params())
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    check_row(row, Env(server))
