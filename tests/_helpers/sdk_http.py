"""The HTTP library the installed openai/anthropic SDK is built on, for stack-neutral tests.

openai 3.x and anthropic 2.x run on ``httpx2``/``httpcore2``; openai 2.x and anthropic 0.x
(the adopters' stack, tested by the ``.venv-ci-adopters`` leg of ``.ci/run``) on ``httpx``
0.28/``httpcore`` 1.x. A test that hands an SDK a client, builds it a timeout or expects a
transport error gets them here, so that the same test, with the same assertions, runs on
both stacks. It is found from the SDK's own default client class, not from version
numbers: openai 2.x's last releases also *accept* an httpx2 client, but what its users
get (and what the adopters run) is its default, httpx.

A test that uses httpx2 itself on purpose (a bare client against the mock server, both
stacks side by side) imports it directly instead.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

_HTTP_LIBRARIES = ("httpx", "httpx2")


def sdk_http(sdk: str = "openai") -> Any:
    """The ``httpx`` or ``httpx2`` module that ``sdk`` ("openai" or "anthropic") builds its clients on."""
    module = importlib.import_module(sdk)
    for cls in module.DefaultHttpxClient.__mro__:
        top = cls.__module__.partition(".")[0]
        if top in _HTTP_LIBRARIES:
            return importlib.import_module(top)
    raise RuntimeError(f"{sdk}.DefaultHttpxClient derives from neither httpx.Client nor httpx2.Client")


def sdk_http_client(sdk: str = "openai", server: Any = None, *, asynchronous: bool = False, **options: Any) -> Any:
    """A ``Client`` (or ``AsyncClient``) of :func:`sdk_http`'s library, to hand ``sdk`` as its
    ``http_client``; it trusts ``server``'s certificate when that server (a ``MockLLMServer``
    or ``BufferingProxy``) serves TLS. ``options`` go to the client (``timeout``, ``limits``...)."""
    http = sdk_http(sdk)
    if server is not None and server.tls:
        options.setdefault("verify", server.ssl_context())
    return (http.AsyncClient if asynchronous else http.Client)(**options)


def stack(sdk: str = "openai") -> str:
    """``"<sdk> <version> on <http library> <version>"``, for messages and reasons."""
    module: ModuleType = importlib.import_module(sdk)
    http = sdk_http(sdk)
    return f"{sdk} {module.__version__} on {http.__name__} {http.__version__}"


@functools.cache
def _stream_error_becomes(sdk: str, transport_error_name: str) -> type[BaseException] | None:
    """The exception class of ``sdk`` that the HTTP library's ``transport_error_name``
    (``ReadError``, ``ReadTimeout``), raised while a stream is iterated, becomes; None when the
    SDK lets it escape as it is. Found out by asking the installed SDK: a stream over an
    in-memory transport whose body raises that error at the first read."""
    module = importlib.import_module(sdk)
    http = sdk_http(sdk)
    failure = getattr(http, transport_error_name)

    class FailingBody(http.SyncByteStream):  # type: ignore[misc, name-defined]
        def __iter__(self) -> Iterator[bytes]:
            raise failure("the probe's read fails")
            yield b""  # a generator

    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": "text/event-stream"}, stream=FailingBody())

    messages: Any = [{"role": "user", "content": "probe"}]
    with http.Client(transport=http.MockTransport(handler)) as transport_client:
        options: Any = {"api_key": "k", "max_retries": 0, "http_client": transport_client}
        try:
            if sdk == "openai":
                client: Any = module.OpenAI(base_url="http://probe.invalid/v1", **options)
                for _ in client.chat.completions.create(model="m", messages=messages, stream=True):
                    pass
            else:
                client = module.Anthropic(base_url="http://probe.invalid", **options)
                for _ in client.messages.create(model="m", max_tokens=1, messages=messages, stream=True):
                    pass
        except module.APIError as error:
            assert isinstance(error.__cause__, failure), f"{stack(sdk)}: {error!r} from {error.__cause__!r}"
            return type(error)
        except failure:
            return None
    raise AssertionError(f"{stack(sdk)}: a stream whose read fails raised nothing")


def stream_read_error(sdk: str) -> tuple[type[BaseException], ...]:
    """What to expect when the connection fails while ``sdk`` iterates a stream: its
    ``APIConnectionError`` (openai 3.x, anthropic >= 2.17 wrap the transport's error), or the
    HTTP library's own ``ReadError``/``RemoteProtocolError`` (openai 2.x, anthropic 0.x let it
    escape). :func:`transport_error` gives the HTTP library's error in both cases."""
    wrapped = _stream_error_becomes(sdk, "ReadError")
    http = sdk_http(sdk)
    return (wrapped,) if wrapped is not None else (http.ReadError, http.RemoteProtocolError)


def stream_read_timeout(sdk: str) -> tuple[type[BaseException], ...]:
    """What to expect when a read times out while ``sdk`` iterates a stream: its
    ``APITimeoutError`` (openai 3.x, anthropic >= 2.17) or the HTTP library's ``ReadTimeout``."""
    wrapped = _stream_error_becomes(sdk, "ReadTimeout")
    return (wrapped,) if wrapped is not None else (sdk_http(sdk).ReadTimeout,)


def transport_error(error: BaseException, sdk: str) -> BaseException | None:
    """The HTTP library's error behind ``error`` (raised by ``sdk`` or escaping it)."""
    return error.__cause__ if isinstance(error, importlib.import_module(sdk).APIError) else error
