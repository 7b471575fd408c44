"""Signals in a given state, for tests that need one ready-made."""

from __future__ import annotations

from typing import Any

from abortkit import AbortController


def _aborted(reason: object = "esc") -> Any:
    controller = AbortController()
    controller.abort(reason)
    return controller.signal
