"""What importing abortkit costs a program: nothing beyond the standard library and wrapt.

Checked in a fresh interpreter, so that nothing this test run already imported hides a
dependency: ``import abortkit``, and then every public name.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
