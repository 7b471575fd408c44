"""Every provider by name, with what it takes to reach one: the one list the CLI, the benchmarks and the tests read.

An entry (``ProviderSpec``) says which class implements the provider (sync, and async if
another class serves that, or none), which environment variable holds its API key, which
form of base URL it wants (shown by ``abortkit probe --help``), which attribute of the mock
server (``abortkit.testing.MockLLMServer``, ``BufferingProxy``) gives that URL for it, which
extra installs its SDK, and whether an abort wakes a read its SDK has blocked. Adding a
provider is adding one entry to ``SPECS``.

Importing this module imports no SDK (about 1.5 s for openai and anthropic): classes are
named as ``"module:Class"`` and imported by ``provider_class()``, so that a command line
can list the providers without paying for them.

    from abortkit_providers import registry

    spec = registry.get("anthropic")
    api_key = os.environ[spec.key_variable]
    provider = spec.create(base_url="https://api.anthropic.com", api_key=api_key, model="claude-...")
    on_the_mock = spec.create(base_url=spec.base_url_of(mock_server), api_key="k", model="m")
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import Provider

__all__ = ["PROVIDERS", "SPECS", "ProviderSpec", "get"]


def _check_text(field: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"ProviderSpec.{field} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"ProviderSpec.{field} must not be empty")


def _check_class_path(field: str, value: object) -> None:
    _check_text(field, value)
    module, _, attr = str(value).partition(":")
    if not module or not attr.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"ProviderSpec.{field} must be 'package.module:Class', not {value!r}")


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: how to build it, where its key is, what base URL it wants."""

    name: str
    """What users type (``--provider NAME``) and what reports call it."""
    provider: str
    """The class, as ``"module:Class"``; it serves async calls too unless ``async_provider`` is set."""
    key_variable: str
    """The environment variable that holds the API key by default (``OPENAI_API_KEY``)."""
    base_url_form: str
    """The base URL it wants, for humans: what to pass as ``--base-url``, with an example."""
    mock_base_url: str
    """The attribute of ``MockLLMServer`` (and ``BufferingProxy``) that gives its base URL."""
    async_provider: str | None = None
    """Another class for async use (``"module:Class"``), for a provider whose SDK splits them."""
    has_async: bool = True
    """False: sync calls only (its SDK has no async client)."""
    extra: str | None = None
    """The ``abortkit-providers`` extra that installs its SDK (None: the base install has it)."""
    key_required: bool = True
    """False: the endpoint may take no key (a local Ollama), so a missing one is not an error."""
    wakes_blocked_reads: bool = True
    """False: an abort waits for a blocked network call (connecting, the headers wait, a read in
    a thinking gap) to return; it stops the call before the request and between events only."""

    def __post_init__(self) -> None:
        for field in ("name", "key_variable", "base_url_form"):
            _check_text(field, getattr(self, field))
        _check_class_path("provider", self.provider)
        if self.async_provider is not None:
            _check_class_path("async_provider", self.async_provider)
        _check_text("mock_base_url", self.mock_base_url)
        if not self.mock_base_url.isidentifier():
            raise ValueError(f"ProviderSpec.mock_base_url must be an attribute name, not {self.mock_base_url!r}")
        if self.extra is not None:
            _check_text("extra", self.extra)
        for field in ("has_async", "key_required", "wakes_blocked_reads"):
            if not isinstance(getattr(self, field), bool):
                raise TypeError(f"ProviderSpec.{field} must be a bool, not {type(getattr(self, field)).__name__}")

    def provider_class(self, *, asynchronous: bool = False) -> type[Provider]:
        """The class (imported now, with its SDK) that serves sync calls, or async ones.

        A missing SDK is a ``ModuleNotFoundError`` that names the extra to install.
        """
        if asynchronous and not self.has_async:
            raise TypeError(f"the {self.name} provider has no async API (its SDK has no async client)")
        path = self.async_provider if asynchronous and self.async_provider is not None else self.provider
        module, _, attr = path.partition(":")
        try:
            imported = importlib.import_module(module)
        except ModuleNotFoundError as missing:
            if self.extra is None or (missing.name or "").startswith("abortkit_providers"):
                raise
            raise ModuleNotFoundError(
                f"the {self.name} provider needs its SDK: pip install 'abortkit-providers[{self.extra}]' ({missing})",
                name=missing.name,
            ) from missing
        cls: type[Provider] = getattr(imported, attr)
        return cls

    def base_url_of(self, endpoint: object) -> str:
        """This provider's base URL on a mock server or proxy (``endpoint.<mock_base_url>``)."""
        url = getattr(endpoint, self.mock_base_url, None)
        if not isinstance(url, str):
            raise TypeError(
                f"{type(endpoint).__name__} has no {self.mock_base_url} (the {self.name} base URL of a "
                "MockLLMServer or BufferingProxy)"
            )
        return url

    def create(
        self, *, base_url: str, api_key: str, model: str, asynchronous: bool = False, **options: Any
    ) -> Provider:
        """An instance, for sync calls or (``asynchronous=True``) async ones; ``options`` go to the class."""
        cls = self.provider_class(asynchronous=asynchronous)
        return cls(base_url=base_url, api_key=api_key, model=model, **options)


SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="openai-compatible",
        provider="abortkit_providers.openai_compatible:OpenAICompatibleProvider",
        key_variable="OPENAI_API_KEY",
        base_url_form="the API root, ending in /v1: https://api.openai.com/v1 (LiteLLM, vLLM: http://HOST:PORT/v1)",
        mock_base_url="openai_base_url",
    ),
    ProviderSpec(
        name="openai-responses",
        provider="abortkit_providers.openai_responses:OpenAIResponsesProvider",
        key_variable="OPENAI_API_KEY",
        base_url_form="the API root, ending in /v1: https://api.openai.com/v1",
        mock_base_url="openai_base_url",
    ),
    ProviderSpec(
        name="anthropic",
        provider="abortkit_providers.anthropic:AnthropicProvider",
        key_variable="ANTHROPIC_API_KEY",
        base_url_form="the API root, without /v1: https://api.anthropic.com",
        mock_base_url="anthropic_base_url",
    ),
    ProviderSpec(
        name="minimax",
        provider="abortkit_providers.minimax:MinimaxProvider",
        key_variable="MINIMAX_API_KEY",
        base_url_form="its Anthropic-compatible root, without /v1: https://api.minimax.io/anthropic",
        mock_base_url="minimax_base_url",
    ),
    ProviderSpec(
        name="gemini",
        provider="abortkit_providers.gemini:GeminiProvider",
        key_variable="GEMINI_API_KEY",
        base_url_form="the API root, without a version: https://generativelanguage.googleapis.com",
        mock_base_url="gemini_base_url",
        extra="gemini",
    ),
    ProviderSpec(
        name="ollama",
        provider="abortkit_providers.ollama:OllamaProvider",
        key_variable="OLLAMA_API_KEY",
        base_url_form="the Ollama host: http://localhost:11434 (Ollama's cloud: https://ollama.com)",
        mock_base_url="ollama_base_url",
        extra="ollama",
        key_required=False,
    ),
    ProviderSpec(
        name="bedrock",
        provider="abortkit_providers.bedrock:BedrockProvider",
        key_variable="BEDROCK_API_KEY",  # "ACCESS_KEY_ID:SECRET_ACCESS_KEY", as BedrockProvider takes it
        base_url_form="the bedrock-runtime endpoint: https://bedrock-runtime.us-east-1.amazonaws.com",
        mock_base_url="bedrock_base_url",
        extra="bedrock",
        has_async=False,
        wakes_blocked_reads=False,
    ),
)
"""Every provider, in the order the CLI lists them and the reports show them."""


def _by_name(specs: tuple[ProviderSpec, ...]) -> Mapping[str, ProviderSpec]:
    by_name: dict[str, ProviderSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise ValueError(f"two providers are named {spec.name!r}")
        by_name[spec.name] = spec
    return MappingProxyType(by_name)


PROVIDERS: Mapping[str, ProviderSpec] = _by_name(SPECS)
"""``SPECS`` by name (read-only)."""


def get(name: str) -> ProviderSpec:
    """The provider called ``name``; a ``ValueError`` listing the known names if there is none."""
    if not isinstance(name, str):
        raise TypeError(f"the provider name must be a str, not {type(name).__name__}")
    try:
        return PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None
