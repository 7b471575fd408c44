"""docs/adopting.md, run as written: a provider written against an app's own AbortController,
AbortSignal and AbortError (no bridge code), aborted in every phase through the app's types,
with the real openai SDK against the loopback mock server."""

from __future__ import annotations

import re
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest

import abortkit
from abortkit.testing import Gap, MockLLMServer, Script, Text
from tests._helpers.ports import black_hole

DOC = Path(__file__).resolve().parents[2] / "docs" / "adopting.md"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
HANG = 2.0  # hang catch only (the phases' gaps are 10 s)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    cancel_code, provider_code, repl_code = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    modules = {}
    for name, code in (("myapp_cancel", cancel_code), ("myapp_provider", provider_code)):
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(code, f"docs/adopting.md ({name})", "exec"), module.__dict__)
        modules[name] = module
    return types.SimpleNamespace(cancel=modules["myapp_cancel"], provider=modules["myapp_provider"], repl=repl_code)


def _provider(app: Any, base_url: str, **options: Any) -> Any:
    return app.provider.ChatProvider(base_url, "sk-test", max_retries=2, **options)


def _run(app: Any, provider: Any, signal: Any, *, abort_after: float | None, controller: Any) -> tuple[list[str], Any]:
    """Stream until the end or the app's AbortError; abort ``abort_after`` s in (None: not)."""
    received: list[str] = []
    if abort_after is not None:
        threading.Timer(abort_after, controller.abort).start()
    started = time.monotonic()
    with pytest.raises(app.cancel.AbortError) as caught:
        for text in provider.stream(MESSAGES, abort_signal=signal):
            received.append(text)
    elapsed = time.monotonic() - started
    assert elapsed < (abort_after or 0) + HANG, f"unwound after {elapsed:.2f} s"
    return received, caught.value


def _check_error(error: Any, reason: object) -> None:
    assert str(error) == f"Interrupted ({reason})"
    assert isinstance(error.__cause__, abortkit.AbortError)
    assert error.__cause__.reason == reason


def test_the_repl_block_catches_the_apps_own_error(app: Any, mock_llm_server: MockLLMServer) -> None:
    mock_llm_server.enqueue(Script.thinking_gap(first="Hello", gap=10.0, then=" world"))
    namespace = {
        "AbortController": app.cancel.AbortController,
        "AbortError": app.cancel.AbortError,
        "provider": _provider(app, mock_llm_server.openai_base_url),
        "messages": MESSAGES,
    }
    threading.Timer(0.2, lambda: namespace["controller"].abort()).start()  # type: ignore[attr-defined]
    exec(compile(app.repl, "docs/adopting.md (REPL)", "exec"), namespace)
    assert namespace["printed"] == ["Hello"]


def test_already_aborted_sends_nothing(app: Any, mock_llm_server: MockLLMServer) -> None:
    controller = app.cancel.AbortController()
    controller.abort("early")
    received, error = _run(app, _provider(app, mock_llm_server.openai_base_url), controller.signal,
                           abort_after=None, controller=controller)
    assert received == [] and mock_llm_server.request_count == 0
    _check_error(error, "early")
    assert controller.signal._listeners == {}


def test_abort_while_connecting(app: Any) -> None:
    controller = app.cancel.AbortController()
    with black_hole() as port:
        provider = _provider(app, f"http://127.0.0.1:{port}/v1")
        received, error = _run(app, provider, controller.signal, abort_after=0.1, controller=controller)
    assert received == []
    _check_error(error, "user pressed ESC")
    assert controller.signal._listeners == {}


@pytest.mark.parametrize("phase", ["waiting for headers", "thinking gap"])
def test_abort_while_blocked(app: Any, mock_llm_server: MockLLMServer, phase: str) -> None:
    if phase == "waiting for headers":
        mock_llm_server.enqueue(Script.headers_after(10.0))
        expected: list[str] = []
    else:
        mock_llm_server.enqueue(Script.thinking_gap(first="Hello", gap=10.0, then=" world"))
        expected = ["Hello"]
    controller = app.cancel.AbortController()
    received, error = _run(app, _provider(app, mock_llm_server.openai_base_url), controller.signal,
                           abort_after=0.3, controller=controller)
    assert received == expected
    _check_error(error, "user pressed ESC")
    (request,) = mock_llm_server.requests  # exactly one: no retry of the aborted request
    assert mock_llm_server.wait_for_disconnect(request, HANG) is not None
    assert controller.signal._listeners == {}, "a listener was left on the app's signal"


def test_abort_mid_burst_delivers_nothing_after_it(app: Any, mock_llm_server: MockLLMServer) -> None:
    mock_llm_server.enqueue(Script(steps=tuple(Text(f"{n} ") for n in range(200))))
    controller = app.cancel.AbortController()
    received: list[str] = []
    with pytest.raises(app.cancel.AbortError) as caught:
        for text in _provider(app, mock_llm_server.openai_base_url).stream(MESSAGES, abort_signal=controller.signal):
            received.append(text)
            if len(received) == 3:
                controller.abort()
    assert received == ["0 ", "1 ", "2 "]
    _check_error(caught.value, "user pressed ESC")
    assert controller.signal._listeners == {}


def test_a_threading_event_works_as_the_apps_signal(app: Any, mock_llm_server: MockLLMServer) -> None:
    mock_llm_server.enqueue(Script(steps=(Text("Hello"), Gap(10.0), Text(" world"))))
    stop = threading.Event()
    received, error = _run(app, _provider(app, mock_llm_server.openai_base_url), stop,
                           abort_after=0.3, controller=types.SimpleNamespace(abort=stop.set))
    assert received == ["Hello"]
    _check_error(error, None)
