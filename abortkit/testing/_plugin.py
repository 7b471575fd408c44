"""The pytest plugin (entry point ``pytest11``): fixtures ``mock_llm_server``,
``mock_llm_server_tls``, ``abort_controller`` and ``race_runner``.

pytest imports this module at the start of every run in an environment where abortkit is
installed, whether or not the project uses abortkit, so importing it must cost nothing:
it imports no pytest, no asyncio and none of the library, and registers the fixtures
(``_fixtures``) when pytest configures itself. Fixtures of a plugin that is not a
conftest are visible everywhere and are overridden by a conftest's fixture of the same
name, as when they were defined here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import pytest

FIXTURES = "abortkit.testing.fixtures"
"""The name under which the fixtures' module is registered (``pytest -p no:abortkit`` drops both)."""


def pytest_configure(config: pytest.Config) -> None:
    from . import _fixtures

    if not config.pluginmanager.has_plugin(FIXTURES):
        config.pluginmanager.register(_fixtures, FIXTURES)
