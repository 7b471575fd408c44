"""Which optional dependency each part of ``abortkit.testing`` needs, and the error that says so.

``pip install abortkit`` brings only wrapt; the mock server and the proxy need the
``mock-server`` extra (h11, and trustme for TLS), the race harness the ``race`` extra
(hypothesis); ``testing`` is both, plus pytest. Without this module a user meets a bare
``ModuleNotFoundError: No module named 'h11'`` far from anything that says which extra
brings it; with it, one line names the feature, the missing module and the command.
"""

from __future__ import annotations

__all__ = ["EXTRA_OF", "MissingExtraError", "missing_extra"]

EXTRA_OF = {"h11": "mock-server", "trustme": "mock-server", "hypothesis": "race"}
"""Top-level module name -> the extra of ``abortkit`` that installs it."""


class MissingExtraError(ImportError):
    """An optional dependency of ``abortkit.testing`` is not installed; the message says what to install.

    An ``ImportError`` (``name`` is the missing module), so code that guards an optional
    import with ``except ImportError`` keeps working.
    """


def missing_extra(error: ImportError, feature: str) -> MissingExtraError | None:
    """The ``MissingExtraError`` to raise instead of ``error``, or None if ``error`` is something else.

    ``feature`` is what the user asked for (``"abortkit.testing.MockLLMServer"``). Only the
    name of the missing module is looked at (``error.name``): any other import failure (a
    module of abortkit's own, a dependency of h11) is not an extra's to name, and the caller
    re-raises it unchanged.
    """
    top = (error.name or "").partition(".")[0]
    extra = EXTRA_OF.get(top)
    if extra is None:
        return None
    return MissingExtraError(
        f"{feature} needs {top}, which is not installed: pip install 'abortkit[{extra}]'", name=top
    )
