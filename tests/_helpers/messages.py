"""Texts of abortkit's own error messages that several test files match."""

from __future__ import annotations

import re

#: What every entry point that takes a signal says it accepts (then: "not <type>").
SIGNAL_ACCEPTED = (
    "must be an AbortSignal, a signal-like object (aborted, add_listener, remove_listener), "
    "a threading.Event, a Future, or None, not"
)
SIGNAL_ACCEPTED_RE = re.escape(SIGNAL_ACCEPTED)
