"""``error=``: the caller sees the app's own exception class, chained from abortkit's
AbortError, with ``reason`` and ``partial`` kept; and lenient resolution for test doubles."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest.mock import MagicMock

import pytest

from abortkit import AbortController, AbortError, abort_scope, abortable, abortable_iter, close_on_abort
from abortkit.testing import SlowStream
from tests._helpers.app_signals import AppAbortError


class SlottedError(Exception):
    __slots__ = ()


def _made(error: AbortError) -> AppAbortError:
    return AppAbortError(f"Interrupted ({error.reason})")


def _check(caught: BaseException, reason: object, partial: object = None) -> None:
    assert isinstance(caught, AppAbortError)
    assert str(caught) == f"Interrupted ({reason})"
    assert isinstance(caught.__cause__, AbortError) and caught.__cause__.reason == reason
    assert caught.reason == reason and caught.partial == partial  # type: ignore[attr-defined]


def test_abort_scope_at_entry_and_at_exit() -> None:
    controller = AbortController()
    controller.abort("early")
    with pytest.raises(AppAbortError) as caught, abort_scope(controller.signal, error=_made):
        pass
    _check(caught.value, "early")
    other = AbortController()
    with pytest.raises(AppAbortError) as caught, abort_scope(other.signal, error=_made):
        other.abort("esc")
        raise ConnectionResetError("what the SDK raised after the abort")
    _check(caught.value, "esc")
    assert isinstance(caught.value.__cause__.__cause__, ConnectionResetError)


def test_close_on_abort_wakes_and_raises_the_apps_error() -> None:
    controller = AbortController()
    stream = SlowStream(range(3), gap=10.0)
    threading.Timer(0.1, controller.abort, args=("esc",)).start()
    started = time.monotonic()
    with pytest.raises(AppAbortError) as caught, close_on_abort(controller.signal, stream, error=_made):
        list(stream)
    assert time.monotonic() - started < 2.0
    _check(caught.value, "esc")


def test_abortable_iter_raises_the_apps_error_sync_and_async() -> None:
    controller = AbortController()
    with pytest.raises(AppAbortError) as caught:
        for item in abortable_iter(range(100), controller.signal, error=_made):
            if item == 3:
                controller.abort("esc")
    _check(caught.value, "esc")

    async def items() -> AsyncIterator[int]:
        for n in range(100):
            yield n

    async def main() -> None:
        other = AbortController()
        with pytest.raises(AppAbortError) as caught:
            async for item in abortable_iter(items(), other.signal, error=_made):
                if item == 3:
                    other.abort("esc")
        _check(caught.value, "esc")

    asyncio.run(main())


def test_abortable_keeps_the_partial_result_on_the_apps_error() -> None:
    controller = AbortController()

    @abortable(error=_made)
    def answer(abort_signal: Any = None) -> str:
        controller.abort("esc")  # the body finished, but under a tripped signal
        return "half an ans"

    with pytest.raises(AppAbortError) as caught:
        answer(abort_signal=controller.signal)
    _check(caught.value, "esc", partial="half an ans")


@pytest.mark.parametrize("kind", ["generator", "coroutine", "async generator"])
def test_abortable_converts_for_every_kind_of_body(kind: str) -> None:
    controller = AbortController()

    @abortable(error=_made)
    def generate(abort_signal: Any = None) -> Iterator[int]:
        yield 1
        controller.abort("esc")
        yield 2

    @abortable(error=_made)
    async def call(abort_signal: Any = None) -> None:
        controller.abort("esc")
        raise OSError("after the abort")

    @abortable(error=_made)
    async def agenerate(abort_signal: Any = None) -> AsyncIterator[int]:
        yield 1
        controller.abort("esc")
        yield 2

    async def drain() -> None:
        async for _ in agenerate(abort_signal=controller.signal):
            pass

    with pytest.raises(AppAbortError) as caught:
        if kind == "generator":
            list(generate(abort_signal=controller.signal))
        elif kind == "coroutine":
            asyncio.run(call(abort_signal=controller.signal))
        else:
            asyncio.run(drain())
    _check(caught.value, "esc")


def test_the_apps_error_passes_outer_boundaries_unchanged() -> None:
    controller = AbortController()
    with pytest.raises(AppAbortError) as caught, abort_scope(controller.signal):
        for item in abortable_iter(range(10), controller.signal, error=_made):
            if item == 1:
                controller.abort("esc")
    _check(caught.value, "esc")


def test_an_abort_error_from_an_inner_boundary_is_converted_by_the_outer_one() -> None:
    controller = AbortController()
    with pytest.raises(AppAbortError) as caught, abort_scope(controller.signal, error=_made):
        for item in abortable_iter(range(10), controller.signal):
            if item == 1:
                controller.abort("esc")
    _check(caught.value, "esc")


def test_a_slotted_app_error_keeps_reason_and_partial_on_its_cause() -> None:
    controller = AbortController()
    controller.abort("esc")
    with pytest.raises(SlottedError) as caught, abort_scope(controller.signal, error=lambda e: SlottedError()):
        pass
    assert caught.value.__cause__.reason == "esc"  # type: ignore[union-attr]


def test_a_factory_that_returns_no_exception_is_a_type_error_naming_it() -> None:
    controller = AbortController()
    controller.abort("esc")
    nope: Any = lambda e: "nope"  # noqa: E731
    with pytest.raises(TypeError, match="returned a str, not an exception") as caught, abort_scope(
        controller.signal, error=nope
    ):
        pass
    assert isinstance(caught.value.__cause__, AbortError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: abort_scope(None, error=AppAbortError()),  # an instance, not a factory
        lambda: close_on_abort(None, SlowStream([]), error="AppAbortError"),
        lambda: abortable_iter([], None, error=1),
        lambda: abortable(error=3.0),
    ],
)
def test_error_must_be_callable(make: Any) -> None:
    with pytest.raises(TypeError, match=r"error must be a callable|error=\.\.\.\) must be a callable"):
        make()


# -- lenient resolution and test doubles --------------------------------------------------------


def test_missing_ignore_makes_an_uncloseable_object_a_plain_scope() -> None:
    controller = AbortController()
    thing = object()
    with pytest.raises(TypeError, match=r"cannot close a builtins\.object"):
        close_on_abort(controller.signal, thing)
    with pytest.raises(AbortError), close_on_abort(controller.signal, thing, missing="ignore") as got:
        assert got is thing
        controller.abort("esc")
    with pytest.raises(ValueError, match="missing must be 'error' or 'ignore', not 'skip'"):
        close_on_abort(None, thing, missing="skip")


def test_a_magicmock_response_is_closed_on_abort_not_taken_for_a_released_httpx_response() -> None:
    controller = AbortController()
    response = MagicMock()
    with pytest.raises(AbortError), close_on_abort(controller.signal, response):
        controller.abort("esc")
    assert response.close.called, "the abort did nothing to the test double"


def test_instrument_strict_false_leaves_what_it_cannot_reach() -> None:
    import httpx

    from abortkit import instrument

    mocked = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, text="ok")))
    with pytest.raises(TypeError, match="cannot reach the connection pool of a MockTransport"):
        instrument(mocked)
    assert instrument(mocked, strict=False) is mocked
    assert mocked.get("http://test/").text == "ok"
    double = object()
    assert instrument(double, strict=False) is double
    with pytest.raises(TypeError, match="strict must be a bool"):
        instrument(mocked, strict="no")  # type: ignore[arg-type]
