"""@abortable: fast path, recheck, translation, every function kind, introspection kept."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from abortkit import AbortController, AbortError, AbortSignal, abortable, current_signals
from tests._helpers.messages import SIGNAL_ACCEPTED
from tests._helpers.signals import _aborted


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


# -- found by mutation testing (docs/mutation-testing.md) ------------------------------------------


@pytest.mark.found_by_mutation
def test_the_signal_is_found_by_keyword_by_position_and_by_default() -> None:
    from abortkit import abortable

    calls: list[object] = []
    default_signal = _aborted("default")

    @abortable
    def positional(x: int, abort_signal: AbortSignal | None = None) -> int:
        calls.append(x)
        return x

    @abortable
    def keyword_only(x: int, *, abort_signal: AbortSignal | None = None) -> int:
        calls.append(x)
        return x

    @abortable
    def defaulted(x: int, abort_signal: AbortSignal | None = default_signal) -> int:
        calls.append(x)
        return x

    assert positional(1) == 1 and keyword_only(2) == 2  # no signal at all: index == len(args)
    with pytest.raises(AbortError, match="'kw'"):
        positional(3, abort_signal=_aborted("kw"))
    with pytest.raises(AbortError, match="'pos'"):
        positional(4, _aborted("pos"))
    with pytest.raises(AbortError, match="'kwonly'"):
        keyword_only(5, abort_signal=_aborted("kwonly"))
    with pytest.raises(AbortError, match="'default'"):
        defaulted(6)
    assert defaulted(7, None) == 7
    assert calls == [1, 2, 7]


@pytest.mark.found_by_mutation
def test_the_signal_is_found_on_bound_methods() -> None:
    from abortkit import abortable

    class Client:
        @abortable
        def call(self, x: int, abort_signal: AbortSignal | None = None) -> int:
            return x

    assert Client().call(1) == 1
    with pytest.raises(AbortError, match="'bound'"):
        Client().call(2, _aborted("bound"))
    with pytest.raises(AbortError, match="'unbound'"):
        Client.call(Client(), 3, _aborted("unbound"))


@pytest.mark.found_by_mutation
def test_abortable_messages_name_the_function_and_the_parameter() -> None:
    from abortkit import abortable

    def no_signal(x: int) -> int:
        return x

    def star(*abort_signal: object) -> None:
        pass

    qualname = "test_abortable_messages_name_the_function_and_the_parameter.<locals>"
    with pytest.raises(TypeError) as caught:
        abortable(no_signal)
    assert str(caught.value) == f"@abortable: {qualname}.no_signal() has no parameter named 'abort_signal'"
    with pytest.raises(TypeError) as caught:
        abortable(star)
    assert str(caught.value) == f"@abortable: 'abort_signal' of {qualname}.star() must be a named parameter"

    @abortable
    def f(abort_signal: object = None) -> None:
        pass

    with pytest.raises(TypeError) as caught:
        f(abort_signal=3)
    assert str(caught.value) == f"{qualname}.f() argument 'abort_signal' {SIGNAL_ACCEPTED} int"


@pytest.mark.found_by_mutation
def test_abortable_with_a_renamed_parameter() -> None:
    from abortkit import abortable

    @abortable(signal_param="cancel")
    def call(x: int, cancel: AbortSignal | None = None) -> int:
        return x

    assert call(1) == 1
    with pytest.raises(AbortError, match="'renamed'"):
        call(2, cancel=_aborted("renamed"))


@pytest.mark.found_by_mutation
def test_generator_kind_is_driven_checks_between_items_and_keeps_the_scope() -> None:
    from abortkit import abortable, current_signals

    controller = AbortController()
    seen_scopes: list[object] = []

    @abortable
    def gen(n: int, *, abort_signal: AbortSignal | None = None) -> Any:
        for i in range(n):
            seen_scopes.append(current_signals()[-1])
            yield i

    items = []
    with pytest.raises(AbortError) as caught:
        for item in gen(5, abort_signal=controller.signal):
            items.append(item)
            controller.abort("mid")
    assert items == [0]
    assert caught.value.reason == "mid"
    assert seen_scopes == [controller.signal, controller.signal]  # resumed once more, then checked


@pytest.mark.found_by_mutation
def test_generator_aborted_in_its_body_raises_with_the_reason_and_the_return_value() -> None:
    from abortkit import abortable

    controller = AbortController()

    @abortable
    def finishes(abort_signal: AbortSignal | None = None) -> Any:
        yield 1
        controller.abort("in body")
        return "rest"

    generator = finishes(abort_signal=controller.signal)
    assert next(generator) == 1
    with pytest.raises(AbortError) as caught:
        next(generator)
    assert caught.value.reason == "in body"
    assert caught.value.partial == "rest"

    other = AbortController()

    @abortable
    def yields_after(abort_signal: AbortSignal | None = None) -> Any:
        other.abort("then yields")
        yield 1

    with pytest.raises(AbortError) as caught:
        next(yields_after(abort_signal=other.signal))
    assert caught.value.reason == "then yields"

    third = AbortController()
    failure = ConnectionError("closed")

    @abortable
    def fails_after(abort_signal: AbortSignal | None = None) -> Any:
        third.abort("then fails")
        raise failure
        yield

    with pytest.raises(AbortError) as caught:
        next(fails_after(abort_signal=third.signal))
    assert caught.value.reason == "then fails"
    assert caught.value.__cause__ is failure


@pytest.mark.found_by_mutation
def test_async_generator_kind_is_driven_with_send_throw_and_checks() -> None:
    from abortkit import abortable, current_signals

    controller = AbortController()
    scopes: list[object] = []

    @abortable
    async def agen(start: int, *, step: int, abort_signal: AbortSignal | None = None) -> Any:
        scopes.append(current_signals()[-1])
        received = yield start
        scopes.append(current_signals()[-1])
        try:
            yield f"got {received} step {step}"
        except KeyError:
            yield "caught"
        controller.abort("done")
        return

    async def main() -> None:
        generator = agen(1, step=2, abort_signal=controller.signal)
        assert await generator.__anext__() == 1
        assert await generator.asend("x") == "got x step 2"
        assert await generator.athrow(KeyError("k")) == "caught"
        with pytest.raises(AbortError) as caught:
            await generator.__anext__()
        assert caught.value.reason == "done"

    asyncio.run(main())
    assert scopes == [controller.signal, controller.signal]


@pytest.mark.found_by_mutation
def test_async_generator_checks_between_items_and_translates_errors() -> None:
    from abortkit import abortable

    controller = AbortController()
    failure = ConnectionError("closed")

    @abortable
    async def agen(fail: bool, abort_signal: AbortSignal | None = None) -> Any:
        yield 1
        if fail:
            controller.abort("then fails")
            raise failure
        yield 2

    async def main() -> None:
        first = AbortController()
        items = []
        with pytest.raises(AbortError) as caught:
            async for item in agen(False, abort_signal=first.signal):
                items.append(item)
                first.abort("mid")
        assert items == [1] and caught.value.reason == "mid"
        generator = agen(True, abort_signal=controller.signal)
        assert await generator.__anext__() == 1
        with pytest.raises(AbortError) as caught:
            await generator.__anext__()
        assert caught.value.reason == "then fails" and caught.value.__cause__ is failure

    asyncio.run(main())


@pytest.mark.found_by_mutation
def test_coroutine_kind_rechecks_after_the_await() -> None:
    from abortkit import abortable

    controller = AbortController()

    @abortable
    async def answer(abort_signal: AbortSignal | None = None) -> str:
        await asyncio.sleep(0)
        controller.abort("after")
        return "partial"

    with pytest.raises(AbortError) as caught:
        asyncio.run(answer(abort_signal=controller.signal))
    assert caught.value.reason == "after"
    assert caught.value.partial == "partial"


@pytest.mark.found_by_mutation
def test_plain_recheck_carries_the_reason() -> None:
    from abortkit import abortable

    controller = AbortController()

    @abortable
    def answer(abort_signal: AbortSignal | None = None) -> str:
        controller.abort("recheck")
        return "partial"

    with pytest.raises(AbortError) as caught:
        answer(abort_signal=controller.signal)
    assert caught.value.reason == "recheck" and caught.value.partial == "partial"


@pytest.mark.found_by_mutation
def test_a_signal_given_as_none_by_default_is_not_required() -> None:
    from functools import partial

    from abortkit import abortable

    @abortable
    def required(abort_signal: AbortSignal | None) -> int:
        return 1

    with pytest.raises(TypeError, match="missing 1 required positional argument: 'abort_signal'"):
        required()  # type: ignore[call-arg]

    def target(x: int, abort_signal: AbortSignal | None = None) -> int:
        return x

    bound = partial(target, 1)  # no __qualname__: messages use its repr
    decorated = abortable(bound)
    assert decorated() == 1
    with pytest.raises(TypeError) as caught:
        decorated(abort_signal="esc")
    assert str(caught.value) == f"{bound!r}() argument 'abort_signal' {SIGNAL_ACCEPTED} str"


@pytest.mark.found_by_mutation
def test_a_generator_keeps_the_scopes_its_body_opened_across_yields() -> None:
    from abortkit import abort_scope, abortable, current_signals

    outer, inner = AbortController(), AbortController()
    seen: list[tuple[AbortSignal, ...]] = []

    @abortable
    def gen(abort_signal: AbortSignal | None = None) -> Any:
        with abort_scope(inner.signal):
            seen.append(current_signals())
            yield 1
            seen.append(current_signals())
            yield 2
        seen.append(current_signals())
        yield 3

    assert list(gen(abort_signal=outer.signal)) == [1, 2, 3]
    assert seen[0][-2:] == (outer.signal, inner.signal)
    assert seen[1][-2:] == (outer.signal, inner.signal), "the body's own scope was lost across a yield"
    assert seen[2][-1] is outer.signal and inner.signal not in seen[2]
    assert outer.signal not in current_signals()

    @abortable
    async def agen(abort_signal: AbortSignal | None = None) -> Any:
        with abort_scope(inner.signal):
            seen.append(current_signals())
            yield 1
            seen.append(current_signals())
            yield 2

    async def main() -> list[int]:
        return [item async for item in agen(abort_signal=outer.signal)]

    seen.clear()
    assert asyncio.run(main()) == [1, 2]
    assert seen[1][-2:] == (outer.signal, inner.signal)
