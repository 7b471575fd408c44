"""@abortable: fast path, recheck, translation, every function kind, introspection kept."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest

from abortkit import AbortController, AbortError, AbortSignal, abortable, current_signals


class Provider:
    def __init__(self) -> None:
        self.calls = 0

    @abortable
    def complete(self, prompt: str, *, abort_signal: AbortSignal | None = None) -> str:
        """Complete a prompt."""
        self.calls += 1
        assert current_signals()[-1:] == ((abort_signal,) if abort_signal else ())
        return prompt.upper()

    @abortable
    def positional(self, prompt: str, abort_signal: AbortSignal | None = None) -> str:
        self.calls += 1
        return prompt

    @abortable(signal_param="signal")
    def renamed(self, signal: AbortSignal | None = None) -> str:
        self.calls += 1
        return "ok"

    @classmethod
    @abortable
    def klass(cls, abort_signal: AbortSignal | None = None) -> str:
        return cls.__name__

    @staticmethod
    @abortable
    def static(value: int, abort_signal: AbortSignal | None = None) -> int:
        return value

    @abortable
    def aborts_midway(self, controller: AbortController, abort_signal: AbortSignal | None = None) -> str:
        controller.abort("esc")
        return "partial answer"

    @abortable
    def fails_after_abort(self, controller: AbortController, abort_signal: AbortSignal | None = None) -> str:
        controller.abort("esc")
        raise ConnectionError("socket closed")

    @abortable
    def fails(self, abort_signal: AbortSignal | None = None) -> str:
        raise ValueError("http 500")


def test_runs_normally_and_keeps_introspection() -> None:
    provider = Provider()
    controller = AbortController()
    assert provider.complete("hi", abort_signal=controller.signal) == "HI"
    assert Provider.complete.__doc__ == "Complete a prompt."
    assert Provider.complete.__name__ == "complete"
    assert list(inspect.signature(Provider.complete).parameters) == ["self", "prompt", "abort_signal"]
    assert inspect.signature(provider.complete).parameters["abort_signal"].default is None


def test_fast_path_does_not_run_the_body() -> None:
    provider = Provider()
    controller = AbortController()
    controller.abort("early")
    with pytest.raises(AbortError) as info:
        provider.complete("hi", abort_signal=controller.signal)
    assert info.value.reason == "early"
    with pytest.raises(AbortError):
        provider.positional("hi", controller.signal)
    with pytest.raises(AbortError):
        provider.renamed(signal=controller.signal)
    with pytest.raises(AbortError):
        Provider.positional(provider, "hi", controller.signal)
    assert provider.calls == 0


def test_classmethod_and_staticmethod() -> None:
    controller = AbortController()
    assert Provider.klass(abort_signal=controller.signal) == "Provider"
    assert Provider().static(3, controller.signal) == 3
    controller.abort()
    with pytest.raises(AbortError):
        Provider.klass(controller.signal)
    with pytest.raises(AbortError):
        Provider.static(3, abort_signal=controller.signal)


def test_recheck_after_return_raises_with_the_result_as_partial() -> None:
    controller = AbortController()
    with pytest.raises(AbortError) as info:
        Provider().aborts_midway(controller, abort_signal=controller.signal)
    assert info.value.partial == "partial answer"


def test_exception_after_abort_is_translated_and_chained() -> None:
    controller = AbortController()
    with pytest.raises(AbortError) as info:
        Provider().fails_after_abort(controller, abort_signal=controller.signal)
    assert isinstance(info.value.__cause__, ConnectionError)


def test_other_exceptions_pass_unchanged() -> None:
    with pytest.raises(ValueError, match="500"):
        Provider().fails(abort_signal=AbortController().signal)


def test_none_signal_runs_undecorated() -> None:
    assert Provider().complete("x") == "X"
    assert Provider().complete("x", abort_signal=None) == "X"


def test_bad_signal_argument_is_a_type_error_naming_the_parameter() -> None:
    provider = Provider()
    with pytest.raises(TypeError, match="abort_signal"):
        provider.complete("x", abort_signal="esc")  # type: ignore[arg-type]
    assert provider.calls == 0


def test_decorating_a_function_without_the_parameter_fails_at_decoration() -> None:
    with pytest.raises(TypeError, match="no parameter named 'abort_signal'"):

        @abortable
        def no_signal(x: int) -> int:
            return x

    with pytest.raises(TypeError, match="parameter name"):
        abortable(signal_param="not a name")
    with pytest.raises(TypeError, match="function"):
        abortable(3)


# -- generators ----------------------------------------------------------------------------


@abortable
def chunks(items: list[str], abort_signal: AbortSignal | None = None) -> Iterator[str]:
    for item in items:
        assert current_signals() and current_signals()[-1] is abort_signal
        yield item


def test_generator_delivers_everything_without_abort() -> None:
    assert list(chunks(["a", "b"], abort_signal=AbortController().signal)) == ["a", "b"]
    assert inspect.isgeneratorfunction(chunks)


def test_generator_stops_at_the_abort_and_raises() -> None:
    controller = AbortController()
    seen: list[str] = []
    with pytest.raises(AbortError):
        for item in chunks(["a", "b", "c"], abort_signal=controller.signal):
            seen.append(item)
            controller.abort()
    assert seen == ["a"]


def test_generator_fast_path_raises_at_call_time() -> None:
    controller = AbortController()
    controller.abort()
    with pytest.raises(AbortError):
        chunks(["a"], abort_signal=controller.signal)


def test_generator_scope_does_not_leak_to_the_consumer() -> None:
    controller = AbortController()
    for _ in chunks(["a", "b"], abort_signal=controller.signal):
        assert current_signals() == ()


def test_generator_send_and_throw_are_forwarded() -> None:
    @abortable
    def echo(abort_signal: AbortSignal | None = None) -> Iterator[str]:
        received = yield "first"
        try:
            yield f"got {received}"
        except KeyError:
            yield "caught"

    generator = echo(abort_signal=AbortController().signal)
    assert next(generator) == "first"
    assert generator.send("x") == "got x"
    assert generator.throw(KeyError("k")) == "caught"


# -- coroutines and async generators ---------------------------------------------------------


@abortable
async def answer(controller: AbortController | None = None, abort_signal: AbortSignal | None = None) -> str:
    await asyncio.sleep(0)
    assert current_signals()[-1] is abort_signal
    if controller is not None:
        controller.abort("esc")
    return "text"


@abortable
async def stream(items: list[str], abort_signal: AbortSignal | None = None) -> AsyncIterator[str]:
    for item in items:
        await asyncio.sleep(0)
        yield item


def test_coroutine_kinds() -> None:
    assert inspect.iscoroutinefunction(answer)
    assert inspect.isasyncgenfunction(stream)

    async def main() -> None:
        controller = AbortController()
        assert await answer(abort_signal=controller.signal) == "text"
        with pytest.raises(AbortError) as info:
            await answer(controller, abort_signal=controller.signal)
        assert info.value.partial == "text"
        with pytest.raises(AbortError):  # fast path
            await answer(abort_signal=controller.signal)

        other = AbortController()
        seen = []
        with pytest.raises(AbortError):
            async for item in stream(["a", "b", "c"], abort_signal=other.signal):
                seen.append(item)
                other.abort()
        assert seen == ["a"]
        assert [i async for i in stream(["x"], abort_signal=AbortController().signal)] == ["x"]

    asyncio.run(main())


def test_async_generator_keeps_its_own_scope_across_yields() -> None:
    outer, inner = AbortController(), AbortController()

    @abortable
    async def generate(abort_signal: AbortSignal | None = None) -> AsyncIterator[tuple[AbortSignal, ...]]:
        from abortkit import abort_scope

        async with abort_scope(inner.signal):
            yield current_signals()
            yield current_signals()
        yield current_signals()

    async def main() -> list[tuple[AbortSignal, ...]]:
        seen = []
        async for value in generate(abort_signal=outer.signal):
            seen.append(value)
            assert current_signals() == ()  # the consumer's own context is untouched
        return seen

    first, second, third = asyncio.run(main())
    assert first == second == (outer.signal, inner.signal)
    assert third == (outer.signal,)


# -- closing an @abortable generator that is suspended inside its own abort_scope --------------
# Found by the race stress run (tests/conftest.py's guard): the body's scope exit ran, on
# close, in the consumer's context, and restored the decorator's scope there for good.


def test_closing_a_generator_suspended_in_its_own_scope_leaves_no_scope_behind() -> None:
    from abortkit import abort_scope

    outer, inner = AbortController(), AbortController()

    @abortable
    def numbers(abort_signal: AbortSignal | None = None) -> Iterator[int]:
        with abort_scope(inner.signal):
            yield 1
            yield 2

    generator = numbers(abort_signal=outer.signal)
    assert next(generator) == 1
    assert current_signals() == ()
    generator.close()
    assert current_signals() == (), "closing the generator left a scope in this context"
    for item in numbers(abort_signal=outer.signal):  # the same through a for loop left early
        assert item == 1
        break
    gc.collect()
    assert current_signals() == ()


def test_closing_an_async_generator_suspended_in_its_own_scope_leaves_no_scope_behind() -> None:
    from abortkit import abort_scope

    outer, inner = AbortController(), AbortController()

    @abortable
    async def numbers(abort_signal: AbortSignal | None = None) -> AsyncIterator[int]:
        async with abort_scope(inner.signal):
            yield 1
            yield 2

    async def main() -> tuple[AbortSignal, ...]:
        generator = numbers(abort_signal=outer.signal)
        assert await generator.__anext__() == 1
        await generator.aclose()
        return current_signals()

    assert asyncio.run(main()) == ()
