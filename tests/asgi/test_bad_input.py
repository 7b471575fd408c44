"""Bad input for ``abortkit.asgi``'s public names: wrong types and values, refused clearly, leaving nothing.

The rows of the ``abortkit.asgi`` module; the mechanism (what every row checks around the
failed call) is in ``tests/_helpers/bad_input.py``, and the guard that every public name has
a row in ``tests/test_public_names.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from abortkit.asgi import AbortOnDisconnect, request_signal
from abortkit.testing import MockLLMServer
from tests._helpers.bad_input import Env, Row, Table, check_row

ASGI = "abortkit.asgi"


async def _app(scope: Any, receive: Any, send: Any) -> None: ...


ROWS: list[Row] = [
    Row(
        "asgi-middleware-app",
        f"{ASGI}:AbortOnDisconnect",
        lambda e: AbortOnDisconnect(5),  # type: ignore[arg-type]
        TypeError,
        r"AbortOnDisconnect\(app\) must be an ASGI application",
    ),
    Row(
        "asgi-middleware-buffer-type",
        f"{ASGI}:AbortOnDisconnect",
        lambda e: AbortOnDisconnect(_app, max_body_buffer="1MB"),  # type: ignore[arg-type]
        TypeError,
        r"max_body_buffer=\.\.\.\) must be an int \(bytes\), not str",
    ),
    Row(
        "asgi-middleware-buffer-negative",
        f"{ASGI}:AbortOnDisconnect",
        lambda e: AbortOnDisconnect(_app, max_body_buffer=-1),
        ValueError,
        r"max_body_buffer=\.\.\.\) must be >= 0, not -1",
    ),
    Row(
        "asgi-request-signal-type",
        f"{ASGI}:request_signal",
        lambda e: request_signal(5),
        TypeError,
        r"request_signal\(\) takes a Starlette Request .* not int",
    ),
    Row(
        "asgi-request-signal-no-middleware",
        f"{ASGI}:request_signal",
        lambda e: request_signal({"type": "http"}),
        LookupError,
        r"no AbortOnDisconnect",
    ),
]

EXEMPT: dict[str, str] = {
    f"{ASGI}:ClientDisconnected": "an exception type (the reason of a request's signal)",
}

TABLE = Table(ASGI, ROWS, EXEMPT)


@pytest.fixture(scope="module")
def server() -> Iterator[MockLLMServer]:
    with MockLLMServer() as srv:
        yield srv


@pytest.mark.parametrize("row", TABLE.params())
def test_bad_input_is_refused_clearly_and_leaves_nothing(row: Row, server: MockLLMServer) -> None:
    check_row(row, Env(server))
