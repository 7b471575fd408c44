"""``abortkit_providers.registry``: every entry builds a provider that works on the mock server."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import subprocess
import sys

import abortkit_providers
import pytest
from abortkit_providers import Provider, registry
from abortkit_providers.registry import ProviderSpec

from abortkit.testing import BufferingProxy, MockLLMServer, Script

NAMES = list(registry.PROVIDERS)


def test_the_registry_lists_every_provider_once_in_order() -> None:
    assert [spec.name for spec in registry.SPECS] == NAMES
    assert NAMES[0] == "openai-compatible"  # the CLI's default
    assert {"anthropic", "minimax"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_extra_is_one_the_distribution_declares(name: str) -> None:
    spec = registry.get(name)
    extras = importlib.metadata.metadata("abortkit-providers").get_all("Provides-Extra") or []
    assert spec.extra is None or spec.extra in extras


@pytest.mark.parametrize("name", NAMES)
def test_each_class_is_an_exported_provider(name: str) -> None:
    spec = registry.get(name)
    assert spec.provider_class().has_async is spec.has_async
    for asynchronous in (False, True) if spec.has_async else (False,):
        cls = spec.provider_class(asynchronous=asynchronous)
        assert issubclass(cls, Provider)
        # exported, so that the bad-input table's "every public name has a row" covers it
        assert getattr(abortkit_providers, cls.__name__) is cls
        assert cls.__name__ in abortkit_providers.__all__


@pytest.mark.parametrize(("name", "mode"), [(n, m) for n in NAMES for m in ("sync", "async")
                                            if m == "sync" or registry.get(n).has_async])
def test_each_entry_reaches_its_dialect_on_the_mock_server(name: str, mode: str) -> None:
    spec = registry.get(name)
    asynchronous = mode == "async"
    api_key = "AKIDMOCK:mock-secret" if name == "bedrock" else "sk-test"  # boto3 signs with a key id and secret
    with MockLLMServer(default_script=Script.simple("hello from the mock")) as server:
        provider = spec.create(
            base_url=spec.base_url_of(server), api_key=api_key, model="m", asynchronous=asynchronous, max_retries=0
        )
        assert type(provider) is spec.provider_class(asynchronous=asynchronous)
        messages = [{"role": "user", "content": "hi"}]
        if asynchronous:
            result = asyncio.run(provider.achat_stream_response(messages))  # type: ignore[arg-type]
        else:
            result = provider.chat_stream_response(messages)  # type: ignore[arg-type]
        assert result.text == "hello from the mock"
        assert server.request_count == 1
        assert server.errors == []


def test_a_sync_only_provider_has_no_async_class() -> None:
    (spec,) = [s for s in registry.SPECS if s.name == "bedrock"]
    assert not spec.has_async
    with pytest.raises(TypeError, match="the bedrock provider has no async API"):
        spec.provider_class(asynchronous=True)


def test_a_missing_sdk_names_the_extra() -> None:
    code = (
        "import sys\nsys.modules['ollama'] = None  # as if not installed\n"
        "from abortkit_providers import registry\n"
        "try:\n    registry.get('ollama').provider_class()\n"
        "except ModuleNotFoundError as error:\n    print(error)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("the ollama provider needs its SDK: pip install 'abortkit-providers[ollama]'")


def test_a_proxy_gives_the_same_kinds_of_url() -> None:
    with MockLLMServer() as server, BufferingProxy(server.base_url) as proxy:
        for spec in registry.SPECS:
            assert spec.base_url_of(proxy).replace(proxy.base_url, "") == spec.base_url_of(server).replace(
                server.base_url, ""
            )


def test_importing_the_registry_imports_no_sdk() -> None:
    code = (
        "import json, sys\nfrom abortkit_providers import registry\n"
        "print(json.dumps(sorted({m.partition('.')[0] for m in sys.modules} & {'openai', 'anthropic', 'httpx2'})))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == []


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=rf"unknown provider 'gpt'; known: {', '.join(NAMES)}$"):
        registry.get("gpt")
    with pytest.raises(TypeError, match="the provider name must be a str, not int"):
        registry.get(3)  # type: ignore[arg-type]


def test_the_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        registry.PROVIDERS["x"] = registry.SPECS[0]  # type: ignore[index]


GOOD = {
    "name": "p",
    "provider": "abortkit_providers.minimax:MinimaxProvider",
    "key_variable": "P_API_KEY",
    "base_url_form": "https://example.invalid",
    "mock_base_url": "anthropic_base_url",
}


@pytest.mark.parametrize(
    ("field", "value", "error", "match"),
    [
        ("name", 5, TypeError, r"ProviderSpec.name must be a str, not int"),
        ("name", " ", ValueError, r"ProviderSpec.name must not be empty"),
        ("key_variable", None, TypeError, r"ProviderSpec.key_variable must be a str, not NoneType"),
        ("base_url_form", "", ValueError, r"ProviderSpec.base_url_form must not be empty"),
        ("provider", "abortkit_providers.minimax", ValueError, r"must be 'package.module:Class'"),
        ("provider", "abortkit providers:X", ValueError, r"must be 'package.module:Class'"),
        ("provider", b"m:C", TypeError, r"ProviderSpec.provider must be a str, not bytes"),
        ("async_provider", ":C", ValueError, r"ProviderSpec.async_provider must be 'package.module:Class'"),
        ("mock_base_url", "openai-base-url", ValueError, r"must be an attribute name, not 'openai-base-url'"),
        ("has_async", "yes", TypeError, r"ProviderSpec.has_async must be a bool, not str"),
        ("extra", "", ValueError, r"ProviderSpec.extra must not be empty"),
    ],
)
def test_a_bad_entry_is_refused_when_written(field: str, value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ProviderSpec(**{**GOOD, field: value})  # type: ignore[arg-type]


def test_an_async_class_of_its_own_is_used_for_async() -> None:
    spec = ProviderSpec(**{**GOOD, "async_provider": "abortkit_providers.anthropic:AnthropicProvider"})
    assert spec.provider_class() is abortkit_providers.MinimaxProvider
    assert spec.provider_class(asynchronous=True) is abortkit_providers.AnthropicProvider


def test_two_entries_cannot_share_a_name() -> None:
    spec = ProviderSpec(**GOOD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two providers are named 'p'"):
        registry._by_name((spec, spec))


def test_an_endpoint_without_the_url_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"object has no openai_base_url \(the openai-compatible base URL"):
        registry.get("openai-compatible").base_url_of(object())
