"""What ``close_on_abort`` can close and how it guards a connection (``abortkit._responses``).

On real httpx and httpx2 ``Response`` objects, in memory, over a socketpair: the guarded byte
stream installed and put back, a late abort after the response was released touching nothing,
an abort on a live response shutting the socket down and closing at exit, HTTP/2 closed rather
than shut down, SDK streams guarded through ``.response``, duck-typed closables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from abortkit import AbortController, AbortError
from tests._helpers.http_responses import _http_module, _peer_saw_shutdown, _response


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_a_late_abort_after_the_response_was_released_touches_nothing(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    module = _http_module(module_name)
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with guard as same:
        proxy = same.stream
        assert proxy is not body, "no guarded byte stream was installed"
        assert isinstance(proxy, module.SyncByteStream) and isinstance(proxy, module.AsyncByteStream)
        assert b"".join(same.iter_bytes()) == b"data"  # read through the guard
        same.close()  # released: the pool may hand the connection to someone else now
        assert body.closes == 1
        proxy.close()
        assert body.closes == 1, "the real stream was closed twice"
        controller.abort("late")  # the user pressed ESC after the answer was complete
    assert not guard.interrupted
    assert response.stream is body, "the original byte stream was not put back"
    assert not _peer_saw_shutdown(peer), "a late abort shut down a released connection"
    # One guarded class per HTTP library, reused.
    other, _, _ = _response(module_name)
    with close_on_abort(AbortController().signal, other) as again:
        assert type(again.stream) is type(proxy)


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_an_abort_on_a_live_response_shuts_the_socket_down_and_closes_at_exit(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with pytest.raises(AbortError) as caught, guard:
        controller.abort("esc")
        assert _peer_saw_shutdown(peer), "the abort did not shut the socket down"
        assert body.closes == 0, "closed from the aborting thread (the consumer closes, at exit)"
    assert caught.value.reason == "esc"
    assert guard.interrupted
    assert body.closes == 1 and response.is_closed
    assert response.stream is body


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_an_already_closed_response_is_never_interrupted(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name)
    response.read()
    response.close()
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with guard as same:
        assert same.stream is body, "a guard was installed on a response that had already let go"
        controller.abort("late")
    assert not guard.interrupted
    assert not _peer_saw_shutdown(peer)


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_http2_responses_are_closed_not_shut_down(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name, http_version=b"HTTP/2")
    controller = AbortController()
    guard = close_on_abort(controller.signal, response)
    with pytest.raises(AbortError), guard:
        controller.abort("esc")
        assert body.closes == 1, "nothing else wakes an HTTP/2 consumer: the abort closes"
    assert guard.interrupted
    assert not _peer_saw_shutdown(peer), "an HTTP/2 socket (shared by other streams) was shut down"


@pytest.mark.found_by_mutation
@pytest.mark.parametrize("module_name", ["httpx", "httpx2"])
def test_async_http_responses_need_async_with_and_close_on_the_loop(module_name: str) -> None:
    from abortkit import close_on_abort

    response, body, peer = _response(module_name, asynchronous=True)
    with pytest.raises(TypeError, match=r"^close_on_abort\(\): a Response closes asynchronously; use `async with"):
        close_on_abort(AbortController().signal, response).__enter__()

    async def main() -> Any:
        controller = AbortController()
        guard = close_on_abort(controller.signal, response)
        with pytest.raises(AbortError):
            async with guard as same:
                async for chunk in same.stream:  # through the guard
                    assert chunk == b"da"
                    controller.abort("esc")
                    await asyncio.sleep(0.01)
                    break
        return guard

    guard = asyncio.run(main())
    assert guard.interrupted
    assert body.closes == 1
    assert _peer_saw_shutdown(peer)


@pytest.mark.found_by_mutation
def test_an_sdk_stream_is_guarded_through_its_response_and_closed_by_its_own_close() -> None:
    from abortkit import close_on_abort

    response, body, peer = _response("httpx2")
    closes: list[str] = []

    class SDKStream:
        def __init__(self) -> None:
            self.response = response

        def close(self) -> None:
            closes.append("sdk")
            response.close()

    sdk_stream = SDKStream()
    controller = AbortController()
    guard = close_on_abort(controller.signal, sdk_stream)
    with pytest.raises(AbortError), guard:
        assert response.stream is not body  # guarded through .response
        controller.abort("esc")
        assert _peer_saw_shutdown(peer)
    assert closes == ["sdk"] and body.closes == 1

    class NotAResponse:
        response = "not an http response"

        def close(self) -> None:
            closes.append("plain")

    controller = AbortController()
    with pytest.raises(AbortError), close_on_abort(controller.signal, NotAResponse()):
        controller.abort("esc")
        assert closes[-1] == "plain", "no HTTP response to shut down: the abort closes at once"


@pytest.mark.found_by_mutation
def test_what_close_on_abort_can_close_is_told_by_duck_typing() -> None:
    from abortkit._responses import resolve_target

    class SyncBoth:
        def aclose(self) -> None:  # not a coroutine function: not an async closer
            pass

        def close(self) -> None:
            pass

    class AsyncClose:
        async def close(self) -> None:
            pass

    class AsyncAclose:
        async def aclose(self) -> None:
            pass

        def close(self) -> None:
            pass

    both = resolve_target(SyncBoth())
    assert not both.is_async and both.sync_close is not None and both.async_close is None
    async_close = resolve_target(AsyncClose())
    assert async_close.is_async and async_close.sync_close is None
    async_aclose = resolve_target(AsyncAclose())
    assert async_aclose.is_async and async_aclose.sync_close is None
    assert async_aclose.http_response is None

    class Odd:
        pass

    with pytest.raises(TypeError) as caught:
        resolve_target(Odd())
    assert str(caught.value) == (
        f"close_on_abort() cannot close a {__name__}.{Odd.__qualname__}: it needs an httpx/httpx2 Response, "
        "an SDK stream, or an object with close() or aclose()"
    )
    with pytest.raises(TypeError, match=r"^close_on_abort\(\) needs a response to close, not None$"):
        resolve_target(None)


@pytest.mark.found_by_mutation
def test_a_sync_response_whose_stream_is_also_async_iterable_is_sync() -> None:
    import httpx2

    from abortkit import close_on_abort
    from abortkit._responses import resolve_target

    response = httpx2.Response(200, stream=httpx2.ByteStream(b"data"))  # both __iter__ and __aiter__
    target = resolve_target(response)
    assert not target.is_async and target.sync_close is not None and target.obj is response
    with close_on_abort(AbortController().signal, response) as same:
        assert same.read() == b"data"


@pytest.mark.found_by_mutation
def test_a_duck_typed_response_is_guarded_without_a_byte_stream_proxy() -> None:
    from abortkit import close_on_abort

    class Stream:
        def __iter__(self) -> Any:
            return iter([b"x"])

        def close(self) -> None:
            pass

    class DuckResponse:  # looks like an HTTP response, from no HTTP library
        def __init__(self) -> None:
            self.extensions: dict[str, Any] = {}
            self.stream = Stream()
            self.http_version = "HTTP/1.1"
            self.is_closed = False
            self.closes = 0

        def close(self) -> None:
            self.closes += 1
            self.is_closed = True

    response = DuckResponse()
    original = response.stream
    controller = AbortController()
    with pytest.raises(AbortError), close_on_abort(controller.signal, response) as same:
        assert same.stream is original  # no proxy class for an unknown library
        controller.abort("esc")
    assert response.closes == 1


@pytest.mark.found_by_mutation
def test_a_byte_stream_replaced_inside_the_block_is_left_alone_at_exit() -> None:
    from abortkit import close_on_abort

    response, body, _peer = _response("httpx2")
    replacement = type(body)()
    with close_on_abort(AbortController().signal, response) as same:
        same.stream = replacement  # someone else swapped it: not ours to put back
    assert response.stream is replacement


@pytest.mark.found_by_mutation
def test_the_guarded_byte_stream_class_is_named_for_what_it_is() -> None:
    from abortkit import close_on_abort

    response, _body, _peer = _response("httpx2")
    with close_on_abort(AbortController().signal, response) as same:
        assert type(same.stream).__name__ == "GuardedByteStream"


@pytest.mark.found_by_mutation
def test_the_byte_stream_bases_come_from_the_responses_top_level_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_proxy_class`` looks the bases up in the package (``httpx2``), not in the module that
    defines the response class (``httpx2._models``); a package with only one of the two bases
    is not one we can guard (no proxy class, rather than a TypeError from ``type()``)."""
    import sys
    import types

    from abortkit._responses import _proxy_class

    class SyncByteStream:
        pass

    class AsyncByteStream:
        pass

    package = types.ModuleType("fakehttp")
    package.SyncByteStream = SyncByteStream  # type: ignore[attr-defined]
    package.AsyncByteStream = AsyncByteStream  # type: ignore[attr-defined]
    models = types.ModuleType("fakehttp._models")  # defines the response, not the bases
    monkeypatch.setitem(sys.modules, "fakehttp", package)
    monkeypatch.setitem(sys.modules, "fakehttp._models", models)

    Response = type("Response", (), {"__module__": "fakehttp._models"})
    cls = _proxy_class(Response())
    assert cls is not None and issubclass(cls, SyncByteStream) and issubclass(cls, AsyncByteStream)

    del package.AsyncByteStream
    assert _proxy_class(Response()) is None
    package.AsyncByteStream = AsyncByteStream  # type: ignore[attr-defined]
    del package.SyncByteStream
    assert _proxy_class(Response()) is None
