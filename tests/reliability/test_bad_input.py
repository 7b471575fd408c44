"""Bad input, table-driven: every public function and constructor, wrong types and values.

Each row calls one public name the wrong way and states the exception type and a regex
that must be found in its message (so the message names what was wrong). Around every
row the test snapshots what a failed call must not change: threads, open descriptors,
``current_signals()``, the idle-watchdog context, pending timers, the SIGINT handler,
the listeners of a parent signal, and the requests and scripts of a live mock server.
Rows that need more (the body of a decorated function did not run, a generator was not
started, a client was not instrumented) carry their own check.

``test_every_public_name_has_a_row`` fails when a name is added to an ``__all__``
without a row here (or an entry in ``EXEMPT`` saying why it takes no input to check).

Known bugs are rows marked ``xfail(strict=True)``: the row states the behaviour we
want, the mark says what happens today.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal as signals
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import abortkit_providers
import httpx2
import openai
import pytest
from abortkit_providers import (
    AnthropicProvider,
    ChatResult,
    MinimaxProvider,
    OpenAICompatibleProvider,
    Provider,
    ToolCall,
    Usage,
)

import abortkit
import abortkit.testing as testing
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
from abortkit._network import AbortableNetworkBackend as _WrappedBackend
from abortkit._timer import pending_timers
from abortkit._watchdog import _watchdogs
from abortkit.testing import (
    AsyncSlowStream,
    BufferingProxy,
    Gap,
    HTTPError,
    Malformed,
    MockLLMServer,
    RacePlan,
    Reset,
    Script,
    SlowStream,
    Stall,
    StreamError,
    Text,
    Thinking,
    Truncate,
    bytecode_steps,
    race_plans,
    run_race,
    signal_handler_trips_available,
    trip_delays,
    trip_points,
    trip_threads,
)

MESSAGES: Any = [{"role": "user", "content": "hi"}]
BAD_TOOL_CALLS: Any = {"role": "assistant", "content": "", "tool_calls": "x"}


# -- the environment every row runs in ------------------------------------------------------


class Env:
    """What a row may use: a parent signal (listener leaks), a live server (no request sent),
    and a call counter (a decorated body that must not run)."""

    def __init__(self, server: MockLLMServer) -> None:
        self.controller = AbortController()
        self.parent = self.controller.signal
        self.server = server
        self.calls = 0
        self.last: Any = None  # the response a row handed over
        self.client: Any = None  # an httpx2 client a row must leave uninstrumented
        self.other: Any = None  # a second signal

    def provider(self, cls: type[Provider] = OpenAICompatibleProvider, **options: Any) -> Any:
        base_url = self.server.openai_base_url if cls is OpenAICompatibleProvider else self.server.anthropic_base_url
        merged: dict[str, Any] = {"base_url": base_url, "api_key": "sk-test", "model": "m", "max_retries": 0}
        merged.update(options)
        return cls(**merged)

    def snapshot(self) -> dict[str, Any]:
        return {
            "threads": {t.ident for t in threading.enumerate()},
            "fds": len(os.listdir("/proc/self/fd")),
            "current_signals": current_signals(),
            "watchdogs": _watchdogs.get(),
            "pending_timers": pending_timers(),
            "sigint": signals.getsignal(signals.SIGINT),
            "parent_listeners": self.parent.listener_count,
            "parent_aborted": self.parent.aborted,
            "requests": self.server.request_count,
            "scripts": self.server.pending_scripts,
        }


def assert_nothing_left(before: dict[str, Any], after: dict[str, Any]) -> None:
    new_threads = after["threads"] - before["threads"]
    assert not new_threads, f"a failed call left threads running: {new_threads}"
    assert after["fds"] <= before["fds"], f"a failed call left descriptors open: {before['fds']} -> {after['fds']}"
    for key in (
        "current_signals",
        "watchdogs",
        "pending_timers",
        "sigint",
        "parent_listeners",
        "parent_aborted",
        "requests",
        "scripts",
    ):
        assert after[key] == before[key], f"a failed call changed {key}: {before[key]!r} -> {after[key]!r}"


@dataclass(frozen=True)
class Row:
    id: str
    covers: str
    """``module:name`` of the public name this row exercises."""
    call: Callable[[Env], object]
    error: type[BaseException]
    match: str
    """Regex searched in ``str(exception)``."""
    check: Callable[[Env], None] | None = None
    """Extra "no partial state" check run after the failed call."""
    bug: str | None = None
    """A known bug: the row is ``xfail(strict=True)`` with this reason."""


CORE, PROVIDERS, TESTING = "abortkit", "abortkit_providers", "abortkit.testing"


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


def _client_not_instrumented(env: Env) -> None:
    backend = env.client._transport._pool._network_backend
    assert not isinstance(backend, _WrappedBackend), "a refused instrument() left the client half instrumented"


def _sdk_client(env: Env) -> openai.OpenAI:
    client = openai.OpenAI(base_url=env.server.openai_base_url, api_key="sk-test", max_retries=0)
    env.client = client._client
    return client


def _remove_foreign_registration(env: Env) -> object:
    other = AbortController().signal
    env.other = other
    registration = other.add_listener(lambda: None)
    return env.parent.remove_listener(registration)


def _foreign_registration_still_pending(env: Env) -> None:
    assert env.other.listener_count == 1, "remove_listener() on the wrong signal removed the listener"


def _chat(env: Env, **kwargs: Any) -> object:
    kwargs.setdefault("messages", MESSAGES)
    return env.provider().chat_stream_response(**kwargs)


def _achat(env: Env, **kwargs: Any) -> object:
    kwargs.setdefault("messages", MESSAGES)
    return asyncio.run(env.provider().achat_stream_response(**kwargs))


def _server_not_started(env: Env, **options: Any) -> None:
    server = MockLLMServer(**options)
    try:
        server.start()
    finally:
        server.stop()


HUGE = 10**400  # a Real that float() cannot represent
OVERFLOW_BUG = "float(seconds) raises OverflowError ('int too large to convert to float'), naming no parameter"
BACKEND_BUG = "the network backend wrappers accept anything; the error comes at the first connect (AttributeError)"


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
        "watchdog-parent-str",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, parent="esc"),
        TypeError,
        r"IdleWatchdog parent must be an AbortSignal or None, not str",
    ),
    Row(
        "watchdog-parent-controller",
        f"{CORE}:IdleWatchdog",
        lambda e: IdleWatchdog(5, parent=e.controller),
        TypeError,
        r"parent must be an AbortSignal or None, not AbortController",
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
        r"abort_scope\(\) signal must be an AbortSignal or None, not str",
    ),
    Row(
        "scope-controller",
        f"{CORE}:abort_scope",
        lambda e: abort_scope(e.controller),
        TypeError,
        r"must be an AbortSignal or None, not AbortController",
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
            r"argument 'abort_signal' must be an AbortSignal or None, not str",
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
        r"abortable_iter\(\) signal must be an AbortSignal or None, not str",
        check=_body_did_not_run,
    ),
    # close_on_abort
    Row(
        "close-bad-signal",
        f"{CORE}:close_on_abort",
        lambda e: close_on_abort("esc", Closable()),
        TypeError,
        r"close_on_abort\(\) signal must be an AbortSignal or None, not str",
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
    # -- abortkit_providers -------------------------------------------------------------------
    *[
        row
        for cls in (OpenAICompatibleProvider, AnthropicProvider, MinimaxProvider)
        for row in (
            Row(
                f"{cls.__name__}-base-url-int",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, base_url=5))(cls),
                TypeError,
                r"base_url must be a str, not int",
            ),
            Row(
                f"{cls.__name__}-base-url-empty",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, base_url=""))(cls),
                ValueError,
                r"base_url must not be empty",
            ),
            Row(
                f"{cls.__name__}-api-key-none",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, api_key=None))(cls),
                TypeError,
                r"api_key must be a str, not NoneType",
            ),
            Row(
                f"{cls.__name__}-model-empty",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, model=""))(cls),
                ValueError,
                r"model must not be empty",
            ),
            Row(
                f"{cls.__name__}-model-missing",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: c(base_url="http://127.0.0.1:9", api_key="k"))(cls),
                TypeError,
                r"missing 1 required keyword-only argument: 'model'",
            ),
            Row(
                f"{cls.__name__}-max-retries-negative",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, max_retries=-1))(cls),
                ValueError,
                r"max_retries must be a non-negative int, not -1",
            ),
            Row(
                f"{cls.__name__}-max-retries-bool",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, max_retries=True))(cls),
                ValueError,
                r"max_retries must be a non-negative int, not True",
            ),
            Row(
                f"{cls.__name__}-client-int",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, client=5))(cls),
                TypeError,
                r"client must be an SDK client \(openai or anthropic\), not int",
            ),
            Row(
                f"{cls.__name__}-unknown-option",
                f"{PROVIDERS}:{cls.__name__}",
                (lambda c: lambda e: e.provider(c, timeout=5))(cls),
                TypeError,
                r"unexpected keyword argument 'timeout'",
            ),
        )
    ],
    Row(
        "provider-async-client-str",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(async_client="x"),
        TypeError,
        r"not str",
    ),
    Row(
        "provider-http-client-int",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(http_client=5),
        TypeError,
        r"http_client",
    ),
    Row(
        "provider-async-client-in-sync-slot",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(client=openai.AsyncOpenAI(base_url=e.server.openai_base_url, api_key="k")),
        TypeError,
        r"client",
    ),
    Row(
        "provider-later-option-fails-after-instrumenting",
        f"{PROVIDERS}:OpenAICompatibleProvider",
        lambda e: e.provider(client=_sdk_client(e), async_client=5),
        TypeError,
        r"not int",
        check=_client_not_instrumented,
    ),
    Row(
        "anthropic-idle-timeout-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_timeout="90"),
        TypeError,
        r"idle_timeout must be a number, not str",
    ),
    Row(
        "anthropic-idle-timeout-zero",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_timeout=0),
        ValueError,
        r"idle_timeout must be a positive",
    ),
    Row(
        "anthropic-idle-retries-negative",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_retries=-1),
        ValueError,
        r"idle_retries must be a non-negative int, not -1",
    ),
    Row(
        "anthropic-idle-retries-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, idle_retries="1"),
        ValueError,
        r"idle_retries must be a non-negative int, not '1'",
    ),
    Row(
        "anthropic-fallback-str",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, fallback="false"),
        TypeError,
        r"fallback",
    ),
    Row(
        "anthropic-bad-option-after-instrumenting",
        f"{PROVIDERS}:AnthropicProvider",
        lambda e: e.provider(AnthropicProvider, client=_sdk_client(e), idle_timeout="90"),
        TypeError,
        r"idle_timeout",
        check=_client_not_instrumented,
    ),
    Row(
        "provider-abstract",
        f"{PROVIDERS}:Provider",
        lambda e: Provider(base_url="http://127.0.0.1:9", api_key="k", model="m"),
        TypeError,
        r"Can't instantiate abstract class Provider",
    ),
    Row(
        "toolcall-wrong-types",
        f"{PROVIDERS}:ToolCall",
        lambda e: ToolCall(None, 5, {"a": 1}),
        TypeError,
        r"id|name|arguments",
    ),
    Row(
        "chatresult-wrong-types",
        f"{PROVIDERS}:ChatResult",
        lambda e: ChatResult(text=5),
        TypeError,
        r"text",
    ),
    Row(
        "usage-wrong-types",
        f"{PROVIDERS}:Usage",
        lambda e: Usage(input_tokens="12"),
        TypeError,
        r"input_tokens",
    ),
    # chat_stream_response / achat_stream_response (no request may reach the server)
    *[
        row
        for name, run in (("chat", _chat), ("achat", _achat))
        for row in (
            Row(
                f"{name}-messages-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages="hi"))(run),
                TypeError,
                r"messages must be a list of message dicts, not str",
            ),
            Row(
                f"{name}-messages-empty",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[]))(run),
                ValueError,
                r"messages must not be empty",
            ),
            Row(
                f"{name}-messages-bad-role",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[*MESSAGES, {"role": "bot", "content": "x"}]))(run),
                ValueError,
                r"messages\[1\] must be a dict with a role in",
            ),
            Row(
                f"{name}-messages-content-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[{"role": "user", "content": 5}]))(run),
                ValueError,
                r"messages\[0\] must be a dict .* and a str content",
            ),
            Row(
                f"{name}-messages-not-dict",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=["hi"]))(run),
                ValueError,
                r"messages\[0\] must be a dict",
            ),
            Row(
                f"{name}-tools-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, tools="search"))(run),
                TypeError,
                r"tools must be a list or None, not str",
            ),
            Row(
                f"{name}-max-tokens-zero",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens=0))(run),
                ValueError,
                r"max_tokens must be positive, not 0",
            ),
            Row(
                f"{name}-max-tokens-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens="5"))(run),
                TypeError,
                r"max_tokens must be an int, not str",
            ),
            Row(
                f"{name}-max-tokens-bool",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, max_tokens=True))(run),
                TypeError,
                r"max_tokens must be an int, not bool",
            ),
            Row(
                f"{name}-abort-signal-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, abort_signal="esc"))(run),
                TypeError,
                r"argument 'abort_signal' must be an AbortSignal or None, not str",
            ),
            Row(
                f"{name}-abort-signal-controller",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, abort_signal=e.controller))(run),
                TypeError,
                r"must be an AbortSignal or None, not AbortController",
            ),
            Row(
                f"{name}-on-text-chunk-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, on_text_chunk=5))(run),
                TypeError,
                r"on_text_chunk",
            ),
            Row(
                f"{name}-tools-item-int",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, tools=[5]))(run),
                TypeError,
                r"tools\[0\]",
            ),
            Row(
                f"{name}-tool-calls-str",
                f"{PROVIDERS}:Provider.{name}_stream_response",
                (lambda r: lambda e: r(e, messages=[*MESSAGES, BAD_TOOL_CALLS]))(run),
                TypeError,
                r"tool_calls",
            ),
        )
    ],
    # -- abortkit.testing ---------------------------------------------------------------------
    Row(
        "server-default-script-str",
        f"{TESTING}:MockLLMServer",
        lambda e: MockLLMServer(default_script="hello"),
        TypeError,
        r"default_script",
    ),
    Row(
        "server-host-int",
        f"{TESTING}:MockLLMServer",
        lambda e: _server_not_started(e, host=5),
        TypeError,
        r"host",
    ),
    Row(
        "server-enqueue-str",
        f"{TESTING}:MockLLMServer",
        lambda e: e.server.enqueue(Script(), "hello"),
        TypeError,
        r"not a Script or HTTPError: 'hello'",
    ),
    Row(
        "script-step-int",
        f"{TESTING}:Script",
        lambda e: Script(steps=[Text("a"), 5]),
        TypeError,
        r"not a script step: 5",
    ),
    Row(
        "script-head-delay-negative",
        f"{TESTING}:Script",
        lambda e: Script(head_delay=-1),
        ValueError,
        r"head_delay must be a finite number of seconds >= 0, got -1",
    ),
    Row(
        "script-head-delay-nan",
        f"{TESTING}:Script",
        lambda e: Script(head_delay=math.nan),
        ValueError,
        r"head_delay must be a finite number",
    ),
    Row(
        "script-status-low",
        f"{TESTING}:Script",
        lambda e: Script(status=99),
        ValueError,
        r"status must be an HTTP status between 200 and 599",
    ),
    Row(
        "script-status-str",
        f"{TESTING}:Script",
        lambda e: Script(status="200"),
        TypeError,
        r"status",
    ),
    Row(
        "script-head-delay-str",
        f"{TESTING}:Script",
        lambda e: Script(head_delay="1"),
        TypeError,
        r"head_delay",
    ),
    Row("script-burst-negative", f"{TESTING}:Script", lambda e: Script.burst(-1), ValueError, r"n_chunks must be >= 0"),
    Row(
        "script-thinking-gap-negative",
        f"{TESTING}:Script",
        lambda e: Script.thinking_gap(gap=-1),
        ValueError,
        r"Gap\.seconds must be a finite number of seconds >= 0",
    ),
    Row(
        "http-error-status-200",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(status=200),
        ValueError,
        r"HTTPError\.status must be between 400 and 599",
    ),
    Row(
        "http-error-retry-after-negative",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(retry_after=-1),
        ValueError,
        r"retry_after must be a finite number",
    ),
    Row(
        "http-error-head-delay-inf",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(head_delay=math.inf),
        ValueError,
        r"head_delay must be a finite number",
    ),
    Row(
        "http-error-status-str",
        f"{TESTING}:HTTPError",
        lambda e: HTTPError(status="500"),
        TypeError,
        r"status",
    ),
    Row(
        "proxy-ftp",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy("ftp://127.0.0.1:21"),
        ValueError,
        r"not an http\(s\) base URL: 'ftp://127\.0\.0\.1:21'",
    ),
    Row(
        "proxy-mode",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy(e.server.base_url, mode="slow"),
        ValueError,
        r"mode must be one of .*got 'slow'",
    ),
    Row(
        "proxy-url-int",
        f"{TESTING}:BufferingProxy",
        lambda e: BufferingProxy(5),
        TypeError,
        r"upstream_base_url",
    ),
    Row("gap-negative", f"{TESTING}:Gap", lambda e: Gap(-1), ValueError, r"Gap\.seconds must be a finite number"),
    Row("gap-inf", f"{TESTING}:Gap", lambda e: Gap(math.inf), ValueError, r"Gap\.seconds must be a finite number"),
    Row(
        "gap-keepalive-zero",
        f"{TESTING}:Gap",
        lambda e: Gap(1, keepalive_every=0),
        ValueError,
        r"keepalive_every must be > 0 seconds or None",
    ),
    Row("gap-str", f"{TESTING}:Gap", lambda e: Gap("1"), TypeError, r"seconds"),
    Row(
        "toolcall-chunk-size-zero",
        f"{TESTING}:ToolCall",
        lambda e: testing.ToolCall("f", chunk_size=0),
        ValueError,
        r"chunk_size must be >= 1",
    ),
    Row(
        "text-int",
        f"{TESTING}:Text",
        lambda e: Text(5),
        TypeError,
        r"text",
    ),
    Row(
        "thinking-int",
        f"{TESTING}:Thinking",
        lambda e: Thinking(5),
        TypeError,
        r"text",
    ),
    Row(
        "malformed-str",
        f"{TESTING}:Malformed",
        lambda e: Malformed("data: {"),
        TypeError,
        r"raw",
    ),
    Row(
        "stream-error-int",
        f"{TESTING}:StreamError",
        lambda e: StreamError(type=5),
        TypeError,
        r"type",
    ),
    Row("stall-args", f"{TESTING}:Stall", lambda e: Stall(1), TypeError, r"takes 1 positional argument"),
    Row("reset-args", f"{TESTING}:Reset", lambda e: Reset(1), TypeError, r"takes 1 positional argument"),
    Row("truncate-args", f"{TESTING}:Truncate", lambda e: Truncate(1), TypeError, r"takes 1 positional argument"),
    Row(
        "race-plan-thread",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(thread="ui"),
        ValueError,
        r"RacePlan thread must be one of .* not 'ui'",
    ),
    Row(
        "race-plan-offset",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(offset=-1),
        ValueError,
        r"RacePlan offset must be >= 0 seconds, not -1",
    ),
    Row(
        "race-plan-steps-negative",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at="x", steps=-1),
        ValueError,
        r"RacePlan steps must be an int >= 0 or None, not -1",
    ),
    Row("race-plan-steps-without-at", f"{TESTING}:RacePlan", lambda e: RacePlan(steps=3), ValueError, r"give `at` too"),
    Row(
        "race-plan-at-empty",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at=""),
        ValueError,
        r"a checkpoint label must not be empty",
    ),
    Row(
        "race-plan-at-zeroth",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at="read:0"),
        ValueError,
        r"checkpoint arrival counts start at 1: 'read:0'",
    ),
    Row(
        "race-plan-at-int",
        f"{TESTING}:RacePlan",
        lambda e: RacePlan(at=5),
        TypeError,
        r"at",
    ),
    Row(
        "race-plans-nothing",
        f"{TESTING}:race_plans",
        lambda e: race_plans(),
        ValueError,
        r"race_plans\(\) needs checkpoint labels or a max_delay > 0",
    ),
    Row(
        "race-plans-max-steps",
        f"{TESTING}:race_plans",
        lambda e: race_plans(["x"], max_steps=-1),
        ValueError,
        r"max_steps must be >= 0, not -1",
    ),
    Row(
        "race-plans-empty-label",
        f"{TESTING}:race_plans",
        lambda e: race_plans([""]),
        ValueError,
        r"a checkpoint label must not be empty",
    ),
    Row(
        "trip-delays-negative",
        f"{TESTING}:trip_delays",
        lambda e: trip_delays(-1),
        ValueError,
        r"a maximum delay must be >= 0 seconds, not -1",
    ),
    Row(
        "run-race-plan-str",
        f"{TESTING}:run_race",
        lambda e: run_race(lambda s, c: None, "x"),
        TypeError,
        r"plan",
    ),
    Row(
        "trip-points-one-label",
        f"{TESTING}:trip_points",
        lambda e: trip_points("x"),
        TypeError,
        r"trip_points\(\) labels must be a collection of checkpoint labels",
    ),
    Row(
        "trip-threads-str",
        f"{TESTING}:trip_threads",
        lambda e: trip_threads(signal_handler="y"),
        TypeError,
        r"trip_threads\(\) signal_handler must be a bool or None, not str",
    ),
    Row(
        "bytecode-steps-negative",
        f"{TESTING}:bytecode_steps",
        lambda e: bytecode_steps(-1),
        ValueError,
        r"bytecode_steps\(\) max_steps must be >= 0, not -1",
    ),
    Row(
        "slow-stream-int",
        f"{TESTING}:SlowStream",
        lambda e: SlowStream(5),
        TypeError,
        r"SlowStream items must be an iterable of items, not int",
    ),
    Row(
        "slow-stream-negative-gap",
        f"{TESTING}:SlowStream",
        lambda e: SlowStream([1], gap=-1),
        ValueError,
        r"SlowStream gap must be >= 0, not -1",
    ),
    Row(
        "async-slow-stream-gap-str",
        f"{TESTING}:AsyncSlowStream",
        lambda e: AsyncSlowStream([1], gap="1"),
        TypeError,
        r"AsyncSlowStream gap must be a number, not str",
    ),
    Row(
        "signal-handler-trips-available-args",
        f"{TESTING}:signal_handler_trips_available",
        lambda e: signal_handler_trips_available(1),
        TypeError,
        r"takes 0 positional arguments",
    ),
]

EXEMPT: dict[str, str] = {
    f"{CORE}:__version__": "a str, not callable",
    f"{CORE}:IdleTimeoutError": "an exception type: any message, like its base TimeoutError",
    f"{PROVIDERS}:Message": "a TypedDict (a plain dict at run time): checked where used, rows *-messages-*",
    f"{PROVIDERS}:Tool": "a TypedDict (a plain dict at run time): checked where used, rows *-tools-*",
    f"{PROVIDERS}:IncompleteResponseError": "an exception type raised by the providers, not built by callers",
    f"{TESTING}:ProxyMode": "a typing alias",
    f"{TESTING}:RaceHung": "an exception type raised by the harness",
    f"{TESTING}:Checkpoints": "built by run_race and handed to the body, never by users",
    f"{TESTING}:Delivered": "a record written by the race harness",
    f"{TESTING}:ListenerRun": "a record written by the race harness",
    f"{TESTING}:Reached": "a record written by the race harness",
    f"{TESTING}:RaceResult": "a record returned by run_race",
    f"{TESTING}:CloseCall": "a record written by SlowStream.close",
    f"{TESTING}:StreamClosed": "an exception type raised by SlowStream",
    f"{TESTING}:RecordedRequest": "a record written by the mock server",
    f"{TESTING}:ProxiedRequest": "a record written by the proxy",
    f"{TESTING}:TripThread": "a typing alias",
}

# Public entry points that are not in an __all__ (methods) but must have rows too.
REQUIRED_METHODS = {
    f"{PROVIDERS}:Provider.chat_stream_response",
    f"{PROVIDERS}:Provider.achat_stream_response",
}


def _param(row: Row) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=row.bug)] if row.bug else []
    return pytest.param(row, id=row.id, marks=marks)


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    env = Env(server)
    before = env.snapshot()
    with pytest.raises(row.error) as caught:
        row.call(env)
    assert caught.type is row.error, f"expected exactly {row.error.__name__}, got {caught.type.__name__}"
    message = str(caught.value)
    assert re.search(row.match, message), f"the message {message!r} does not say {row.match!r}"
    assert_nothing_left(before, env.snapshot())
    if row.check is not None:
        row.check(env)


def _public_names() -> set[str]:
    names: set[str] = set()
    for module in (abortkit, abortkit_providers, testing):
        names |= {f"{module.__name__}:{name}" for name in module.__all__}
    return names


def test_every_public_name_has_a_row() -> None:
    public = _public_names()
    covered = {row.covers for row in ROWS}
    missing = public - covered - set(EXEMPT)
    assert not missing, f"public names without a bad-input row (add one, or an EXEMPT entry): {sorted(missing)}"
    stale = (covered | set(EXEMPT)) - public - REQUIRED_METHODS
    assert not stale, f"rows or exemptions for names that are not public any more: {sorted(stale)}"
    assert covered >= REQUIRED_METHODS
    assert not covered & set(EXEMPT), "a name is both exempt and covered"
    for name in EXEMPT:
        module_name, _, attr = name.partition(":")
        module = {CORE: abortkit, PROVIDERS: abortkit_providers, TESTING: testing}[module_name]
        value = getattr(module, attr)
        # Only non-callables, types and records may be exempt: a plain function never is.
        assert not (callable(value) and type(value).__name__ == "function"), f"{name} is a function: give it a row"


def test_row_ids_are_unique() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))
