"""What importing abortkit costs a program: nothing beyond the standard library and wrapt.

Checked in a fresh interpreter, so that nothing this test run already imported hides a
dependency: ``import abortkit`` and then every public name (names are loaded on first
use, so the names are what pull in the modules), and the pytest plugin that every pytest
run loads wherever abortkit is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

ALLOWED = {"abortkit", "wrapt"}


def modules_loaded_by(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a new interpreter; what it added to ``sys.modules``, split by kind."""
    probe = textwrap.dedent(
        """
        import json, sys
        before = set(sys.modules)
        {code}
        added = sorted(set(sys.modules) - before)
        print(json.dumps({{
            "added": added,
            "outside": sorted({{m.partition(".")[0] for m in added}} - set(sys.stdlib_module_names)),
        }}))
        """
    ).format(code=textwrap.dedent(code))
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    loaded: dict[str, list[str]] = json.loads(run.stdout)
    return loaded


def test_import_abortkit_loads_only_the_standard_library_and_wrapt() -> None:
    loaded = modules_loaded_by("import abortkit")
    assert set(loaded["outside"]) <= ALLOWED, loaded["outside"]


def test_every_public_name_loads_only_the_standard_library_and_wrapt() -> None:
    loaded = modules_loaded_by(
        """
        import abortkit
        for name in abortkit.__all__:
            getattr(abortkit, name)
        """
    )
    assert set(loaded["outside"]) == ALLOWED, loaded["outside"]  # wrapt: @abortable is built on it


def test_the_pytest_plugin_loads_neither_the_library_nor_asyncio() -> None:
    # What every pytest run in an environment with abortkit pays: the plugin module and the
    # packages above it (the fixtures import what they need when a test uses them).
    loaded = modules_loaded_by("import abortkit.testing._plugin")
    ours = {m for m in loaded["added"] if m.partition(".")[0] == "abortkit"}
    assert ours <= {"abortkit", "abortkit.testing", "abortkit.testing._extras", "abortkit.testing._plugin"}, ours
    assert "asyncio" not in loaded["added"]
    assert loaded["outside"] == ["abortkit"]  # not even pytest: it is loaded when pytest runs the plugin


def test_every_public_name_is_the_object_its_module_defines() -> None:
    import importlib

    import abortkit

    assert sorted(abortkit.__all__) == sorted([*abortkit._WHERE, "__version__"])
    for name, module in abortkit._WHERE.items():
        assert getattr(abortkit, name) is getattr(importlib.import_module(f"abortkit.{module}"), name)
    assert set(abortkit.__all__) <= set(dir(abortkit))


def test_an_unknown_name_is_an_attribute_error() -> None:
    import abortkit

    name = "no_such_name"
    with pytest.raises(AttributeError, match="no_such_name"):
        getattr(abortkit, name)
