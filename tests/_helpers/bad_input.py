"""Bad input, table-driven: the mechanism each package's table runs on.

Each row calls one public name the wrong way and states the exception type and a regex
that must be found in its message (so the message names what was wrong). Around every
row the test snapshots what a failed call must not change: threads, open descriptors,
``current_signals()``, the idle-watchdog context, pending timers, the SIGINT handler,
the listeners of a parent signal, and the requests and scripts of a live mock server.
Rows that need more (the body of a decorated function did not run, a generator was not
started, a client was not instrumented) carry their own check.

Each package keeps its own table (a ``Table`` named ``TABLE``) in its own suite, at the
path ``TABLE_HOMES`` gives: ``abortkit`` in ``tests/core``, ``abortkit.testing`` in
``tests/testing``, ``abortkit.asgi`` in ``tests/asgi``, ``abortkit.fleet`` in
``tests/fleet``, ``abortkit_providers`` in ``providers/tests``, so that the core suite
runs without the providers (or redis) installed. ``tests/test_public_names.py`` holds the
one guard: it loads the table of every package that is installed and fails when a name in
an ``__all__`` has no row (or an entry in the table's ``exempt`` saying why it takes no
input to check).

Known bugs are rows marked ``xfail(strict=True)``: the row states the behaviour we
want, the mark says what happens today.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal as signals
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from abortkit import AbortController, current_signals
from abortkit._network import AbortableNetworkBackend as _WrappedBackend
from abortkit._timer import pending_timers
from abortkit._watchdog import _watchdogs
from abortkit.testing import MockLLMServer

REPOSITORY = Path(__file__).resolve().parents[2]

# Where each package's table lives; the guard loads those of the installed packages.
TABLE_HOMES: dict[str, Path] = {
    "abortkit": REPOSITORY / "tests" / "core" / "test_bad_input.py",
    "abortkit.testing": REPOSITORY / "tests" / "testing" / "test_bad_input.py",
    "abortkit.asgi": REPOSITORY / "tests" / "asgi" / "test_bad_input.py",
    "abortkit.fleet": REPOSITORY / "tests" / "fleet" / "test_bad_input.py",
    "abortkit_providers": REPOSITORY / "providers" / "tests" / "test_bad_input.py",
}


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


@dataclass(frozen=True)
class Table:
    """One package's rows, and the public names of it that take no input to check."""

    package: str
    """The importable name whose ``__all__`` the rows cover (``abortkit.testing``)."""
    rows: list[Row]
    exempt: dict[str, str] = field(default_factory=dict)
    """``module:name`` -> why it has no row."""
    required_methods: frozenset[str] = frozenset()
    """Public entry points that are not in an ``__all__`` (methods) but must have rows too."""

    def params(self) -> list[Any]:
        return [_param(row) for row in self.rows]


def _param(row: Row) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=row.bug)] if row.bug else []
    return pytest.param(row, id=row.id, marks=marks)


def check_row(row: Row, env: Env) -> None:
    """The body of every table's ``test_bad_input_is_refused_clearly_and_leaves_nothing``."""
    before = env.snapshot()
    with pytest.raises(row.error) as caught:
        row.call(env)
    assert caught.type is row.error, f"expected exactly {row.error.__name__}, got {caught.type.__name__}"
    message = str(caught.value)
    assert re.search(row.match, message), f"the message {message!r} does not say {row.match!r}"
    assert_nothing_left(before, env.snapshot())
    if row.check is not None:
        row.check(env)


# -- checks shared by the rows of more than one table ------------------------------------------


def _client_not_instrumented(env: Env) -> None:
    backend = env.client._transport._pool._network_backend
    assert not isinstance(backend, _WrappedBackend), "a refused instrument() left the client half instrumented"


# -- the guard's view of every table -----------------------------------------------------------


def installed_packages() -> list[str]:
    """The packages of ``TABLE_HOMES`` importable here (the core suite runs without the providers)."""
    return [package for package in TABLE_HOMES if all(importlib.util.find_spec(n) for n in _needs(package))]


def _needs(package: str) -> tuple[str, ...]:
    """What must be importable for ``package`` to be (``abortkit.fleet`` needs its redis extra)."""
    return (package, "redis") if package == "abortkit.fleet" else (package,)


def load_table(package: str) -> Table:
    """``TABLE`` of the package's table module, loaded from its file: the module may sit in a
    suite that is not part of this run (``providers/tests`` when only ``tests`` runs)."""
    path = TABLE_HOMES[package]
    spec = importlib.util.spec_from_file_location(f"_bad_input_table_of_{package.replace('.', '_')}", path)
    assert spec is not None and spec.loader is not None, f"no bad-input table for {package} at {path}"
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.TABLE
    assert isinstance(table, Table) and table.package == package, f"{path} does not hold {package}'s TABLE"
    return table
