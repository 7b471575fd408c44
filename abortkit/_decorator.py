"""``@abortable``: the provider-method boundary, built on wrapt.

What each provider in the seed wrote by hand, once: the fast path (an already
tripped signal sends no request), the scope that lets the instrumented network layer
wake any blocking call inside the body, the exception translation, and the recheck
after the body returns (a result produced under a tripped signal may be truncated, so
it is raised as ``AbortError.partial`` rather than returned as if complete).

wrapt keeps the signature, ``__wrapped__``, ``inspect.iscoroutinefunction`` and
friends, and binds correctly as a function, method, classmethod or staticmethod.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar, overload

import wrapt

from . import _scope
from ._errors import AbortError
from ._foreign import SignalArgument
from ._scope import abort_scope
from ._signal import AbortSignal
from ._translate import ErrorFactory, check_error_factory, final_error, leaving

__all__ = ["abortable"]

F = TypeVar("F", bound=Callable[..., Any])


class _SignalLocator:
    """Finds the signal argument of a call without ``inspect.signature`` per call."""

    __slots__ = ("_default", "_name", "_position", "_qualname")

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        self._name = name
        self._qualname = getattr(func, "__qualname__", repr(func))
        parameters = inspect.signature(func).parameters
        parameter = parameters.get(name)
        if parameter is None:
            raise TypeError(f"@abortable: {self._qualname}() has no parameter named {name!r}")
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"@abortable: {name!r} of {self._qualname}() must be a named parameter")
        self._position: int | None = None
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            self._position = list(parameters).index(name)
        self._default = None if parameter.default is parameter.empty else parameter.default

    def __call__(self, instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SignalArgument | None:
        if self._name in kwargs:
            value = kwargs[self._name]
        else:
            # wrapt passes a bound call: ``self``/``cls`` is not in args when bound.
            index = None if self._position is None else self._position - (instance is not None)
            value = args[index] if index is not None and 0 <= index < len(args) else self._default
        if value is None:
            return None
        return SignalArgument(value, f"{self._qualname}() argument {self._name!r}")


@overload
def abortable(func: F, /) -> F: ...
@overload
def abortable(*, signal_param: str = "abort_signal", error: ErrorFactory | None = None) -> Callable[[F], F]: ...
def abortable(func: Any = None, /, *, signal_param: str = "abort_signal", error: ErrorFactory | None = None) -> Any:
    """Make a provider method obey the ``abort_signal`` argument it already takes.

    ``@abortable`` or ``@abortable(signal_param="signal", error=AppAbortError)``. Works
    on functions, methods, generators, coroutines and async generators. The signal
    argument may be None (the call runs as if undecorated), an ``AbortSignal``, or an
    app's own signal (``SignalLike``, a ``threading.Event``, a ``Future``: followed for
    the call's duration); anything else is a ``TypeError`` at call time. ``error``:
    called with the ``AbortError`` (``reason`` and ``partial`` on it); what it returns
    is raised instead, chained from it (the app's own abort exception).
    """
    if not isinstance(signal_param, str) or not signal_param.isidentifier():
        raise TypeError(f"@abortable(signal_param=...) must be a parameter name, not {signal_param!r}")
    factory = check_error_factory(error, "@abortable(error=...)")
    if func is None:
        return partial(abortable, signal_param=signal_param, error=factory)
    if not callable(func):
        raise TypeError(f"@abortable decorates a function or method, not {type(func).__name__}")
    locate = _SignalLocator(func, signal_param)

    if inspect.isasyncgenfunction(func):
        body: Callable[..., Any] = _async_generator_call
    elif inspect.iscoroutinefunction(func):
        body = _coroutine_call
    elif inspect.isgeneratorfunction(func):
        body = _generator_call
    else:
        body = _plain_call

    @wrapt.decorator  # type: ignore[untyped-decorator,unused-ignore]
    def wrapper(wrapped: Callable[..., Any], instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        argument = locate(instance, args, kwargs)
        if argument is None:
            return wrapped(*args, **kwargs)
        return body(argument, factory, wrapped, args, kwargs)

    return wrapper(func)


def raise_if_aborted(signal: AbortSignal, partial: object = None) -> None:
    """The recheck after a body returned: a result produced under a tripped signal may
    be truncated, so it travels as ``AbortError.partial`` instead of as a result."""
    if signal._aborted:
        raise AbortError(signal.reason, partial=partial)


@contextmanager
def _converting(argument: SignalArgument, factory: ErrorFactory | None) -> Iterator[None]:
    """Around a whole call: the app's exception instead of AbortError (``error=``), and the
    app's signal let go at the end."""
    try:
        yield
    except AbortError as exc:
        if factory is None:
            raise
        raise final_error(exc, factory) from exc
    finally:
        argument.release()


def _plain_call(argument: SignalArgument, factory: ErrorFactory | None, wrapped: Callable[..., Any],
                args: Any, kwargs: Any) -> Any:
    signal = argument.adopt(_scope.current())
    assert signal is not None
    with _converting(argument, factory):
        with abort_scope(signal):  # raises before the body if already aborted
            result = wrapped(*args, **kwargs)
        raise_if_aborted(signal, result)
        return result


async def _coroutine_call(argument: SignalArgument, factory: ErrorFactory | None, wrapped: Callable[..., Any],
                          args: Any, kwargs: Any) -> Any:
    signal = argument.adopt(_scope.current())
    assert signal is not None
    with _converting(argument, factory):
        async with abort_scope(signal):
            result = await wrapped(*args, **kwargs)
        raise_if_aborted(signal, result)
        return result


def _generator_call(argument: SignalArgument, factory: ErrorFactory | None, wrapped: Callable[..., Any],
                    args: Any, kwargs: Any) -> Any:
    return _start(_drive_generator, argument, factory, wrapped, args, kwargs)


def _async_generator_call(argument: SignalArgument, factory: ErrorFactory | None, wrapped: Callable[..., Any],
                          args: Any, kwargs: Any) -> Any:
    return _start(_drive_async_generator, argument, factory, wrapped, args, kwargs)


def _start(drive: Callable[..., Any], argument: SignalArgument, factory: ErrorFactory | None,
           wrapped: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """A generator's call: adopt for its life (released when it ends or is closed); fast
    path: an aborted signal raises now, and the generator is not even created."""
    signal = argument.adopt(_scope.current())
    assert signal is not None
    try:
        if signal._aborted:
            raise final_error(AbortError(signal.reason), factory)
        generator = wrapped(*args, **kwargs)
    except BaseException:
        argument.release()
        raise
    return drive(generator, signal, argument, factory)


def _drive_generator(
    generator: Generator[Any, Any, Any], signal: AbortSignal, argument: SignalArgument, factory: ErrorFactory | None
) -> Generator[Any, Any, Any]:
    """Resume ``generator`` under the signal's scope; check before handing over each item.

    The scope is set around each resumption only: between items, the consumer's code
    runs in its own context, as it would without the decorator. What the body itself
    changed in the scope (an ``abort_scope`` it opened and is still inside) is carried
    over to its next resumption.
    """
    resume: Callable[[], Any] = generator.__next__
    scoped: tuple[AbortSignal, ...] | None = None
    try:
        while True:
            token = _scope.enter(_scope.including(signal) if scoped is None else scoped)
            try:
                item = resume()
            except StopIteration as stop:
                raise_if_aborted(signal, stop.value)
                return stop.value
            finally:
                scoped = _scope.restore(token)  # keep the scopes the body itself opened for its next resumption
            if signal._aborted:
                raise AbortError(signal.reason)
            try:
                sent = yield item
            except GeneratorExit:
                raise
            except BaseException as exc:  # forward throw() into the body
                resume = partial(generator.throw, exc)
            else:
                resume = partial(generator.send, sent)
    except BaseException as exc:
        replacement = leaving(exc, signal, factory)
        if replacement is not None:
            raise replacement from replacement.__cause__  # as leaving() chained it
        raise
    finally:
        # Closed under its scope too: a body suspended inside its own ``abort_scope``
        # resets the context variable on the way out to what it was when that scope was
        # entered (our scope, pushed for that resumption); outside ours, the reset would
        # leave our signal in the consumer's context for good.
        token = _scope.enter(_scope.including(signal) if scoped is None else scoped)
        try:
            generator.close()
        finally:
            _scope.restore(token)
            argument.release()


async def _drive_async_generator(
    generator: AsyncGenerator[Any, Any], signal: AbortSignal, argument: SignalArgument, factory: ErrorFactory | None
) -> AsyncGenerator[Any, Any]:
    resume: Callable[[], Any] = generator.__anext__
    scoped: tuple[AbortSignal, ...] | None = None
    try:
        while True:
            token = _scope.enter(_scope.including(signal) if scoped is None else scoped)
            try:
                item = await resume()
            except StopAsyncIteration:
                raise_if_aborted(signal)
                return
            finally:
                scoped = _scope.restore(token)
            if signal._aborted:
                raise AbortError(signal.reason)
            try:
                sent = yield item
            except GeneratorExit:
                raise
            except BaseException as exc:
                resume = partial(generator.athrow, exc)
            else:
                resume = partial(generator.asend, sent)
    except BaseException as exc:
        replacement = leaving(exc, signal, factory)
        if replacement is not None:
            raise replacement from replacement.__cause__  # as leaving() chained it
        raise
    finally:
        token = _scope.enter(_scope.including(signal) if scoped is None else scoped)  # see _drive_generator
        try:
            await generator.aclose()
        finally:
            _scope.restore(token)
            argument.release()
