"""Stream ids and the Redis names derived from them: checked once, spelled in one place.

One name serves as both the key that stores a stream's stop and the channel that
announces it (keys and channels are separate namespaces in Redis), so a watcher and a
stopper can never disagree about where to look.
"""

from __future__ import annotations

from .._validate import type_name

__all__ = ["MAX_STREAM_ID_BYTES", "check_prefix", "check_stream_id"]

MAX_STREAM_ID_BYTES = 512


def _check_text(what: str, value: object, *, limit: int) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type_name(value)}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must not contain control characters: {value!r}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate?): {value!r}") from None
    if size > limit:
        raise ValueError(f"{what} is too long: {size} bytes in UTF-8, at most {limit}")
    return value


def check_stream_id(what: str, value: object) -> str:
    """``value`` as a stream id, or a TypeError/ValueError naming ``what``."""
    return _check_text(what, value, limit=MAX_STREAM_ID_BYTES)


def check_prefix(value: object) -> str:
    return _check_text("RedisStopBus prefix", value, limit=128)
