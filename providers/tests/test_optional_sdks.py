"""The providers whose SDK is an extra: importing abortkit_providers does not need it, and a
missing SDK fails where the provider is named, saying which extra installs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

OPTIONAL = [("GeminiProvider", "google.genai", "gemini"), ("OllamaProvider", "ollama", "ollama"),
            ("BedrockProvider", "boto3", "bedrock")]


def test_a_missing_sdk_names_its_extra() -> None:
    hidden = [module for _, module, _ in OPTIONAL]
    code = (
        "import sys\n"
        f"for module in {hidden!r}: sys.modules[module] = None  # as if not installed\n"
        "import abortkit_providers\n"
        "assert abortkit_providers.OpenAICompatibleProvider\n"
        f"for name in {[name for name, _, _ in OPTIONAL]!r}:\n"
        "    try:\n"
        "        getattr(abortkit_providers, name)\n"
        "    except ModuleNotFoundError as error:\n"
        "        print(error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == len(OPTIONAL), out.stdout
    for line, (name, _, extra) in zip(lines, OPTIONAL, strict=True):
        assert line.startswith(f"{name} needs ") and f"pip install 'abortkit-providers[{extra}]'" in line


def test_unknown_names_are_attribute_errors() -> None:
    import abortkit_providers

    with pytest.raises(AttributeError, match="no attribute 'NoSuchProvider'"):
        abortkit_providers.NoSuchProvider  # noqa: B018
