"""``abortkit probe`` against the mock server, a buffering proxy, a dead port and a bad key."""

from __future__ import annotations

import io
import socket
import subprocess
import sys

import pytest
from abortkit_cli._probe import run_probe
from abortkit_providers import registry

from abortkit.testing import BufferingProxy, Gap, HTTPError, MockLLMServer, Script, Text

# The probe counts the connections left open through the openai/anthropic SDKs' httpx pool;
# for the other SDKs it reports "connection unknown", and Bedrock cannot wake a blocked read.
KINDS = ["openai-compatible", "openai-responses", "anthropic", "minimax"]


def model_like() -> Script:
    """A real model's shape: a pause before the first token, then tokens 30 ms apart."""
    steps: list[object] = []
    for number in range(1, 31):
        steps += [Text(f"{number}\n"), Gap(0.03)]
    return Script(head_delay=0.2, steps=steps)  # type: ignore[arg-type]


def url_for(kind: str, endpoint: MockLLMServer | BufferingProxy) -> str:
    return registry.get(kind).base_url_of(endpoint)


@pytest.mark.parametrize("kind", KINDS)
def test_probe_passes_against_a_streaming_endpoint(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_KEY", "k")
    with MockLLMServer(default_script=model_like()) as server:
        out = io.StringIO()
        status = run_probe(kind, url_for(kind, server), "m", "PROBE_KEY", out=out)
    text = out.getvalue()
    assert status == 0, text
    assert "verdict: OK" in text
    assert text.count("connection closed") == 2


def test_probe_flags_a_buffering_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_KEY", "k")
    with MockLLMServer(default_script=model_like()) as server, BufferingProxy(
        server.base_url, mode="buffer_all"
    ) as proxy:
        out = io.StringIO()
        status = run_probe("openai-compatible", proxy.openai_base_url, "m", "PROBE_KEY", out=out)
    assert status == 1
    assert "buffers the stream" in out.getvalue()


def test_probe_reports_a_bad_key_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_KEY", "k")
    with MockLLMServer(default_script=HTTPError(401, message="invalid x-api-key")) as server:
        out = io.StringIO()
        status = run_probe("anthropic", server.anthropic_base_url, "m", "PROBE_KEY", out=out)
    assert status == 1
    assert "refused the API key (HTTP 401)" in out.getvalue()


def test_probe_missing_key_and_unreachable_url_are_one_line_errors_without_traceback() -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env_run = subprocess.run(
        [sys.executable, "-m", "abortkit_cli", "probe", "--provider", "openai-compatible",
         "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "--api-key-env", "ABORTKIT_TEST_NO_SUCH_VAR"],
        capture_output=True, text=True, timeout=60,
    )
    assert env_run.returncode == 2
    assert env_run.stdout.strip().count("\n") == 0 and "ABORTKIT_TEST_NO_SUCH_VAR" in env_run.stdout
    unreachable = subprocess.run(
        [sys.executable, "-m", "abortkit_cli", "probe", "--provider", "openai-compatible",
         "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "--api-key-env", "PATH"],
        capture_output=True, text=True, timeout=120,
    )
    assert unreachable.returncode == 1
    assert "Traceback" not in unreachable.stdout + unreachable.stderr
    assert "cannot reach the endpoint" in unreachable.stdout
