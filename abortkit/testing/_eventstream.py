"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Why it is written out here rather than borrowed from botocore: the mock must produce the bytes
botocore *parses*, so using botocore's own encoder would test nothing. One message is::

    total length (uint32 BE) | headers length (uint32 BE) | CRC32 of those 8 bytes
    headers | payload | CRC32 of everything before it

and every header is ``name length (uint8) | name | type (uint8) | value``; the mock only sends
string headers (type 7: ``length (uint16 BE) | UTF-8 bytes``), which is all that Bedrock's
``:event-type``, ``:message-type``, ``:content-type`` and ``:exception-type`` need.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping

__all__ = ["CONTENT_TYPE", "encode_message"]

CONTENT_TYPE = "application/vnd.amazon.eventstream"

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    if len(raw_name) > 255 or len(raw_value) > 0xFFFF:
        raise ValueError(f"event-stream header {name!r} is too long")
    return bytes([len(raw_name)]) + raw_name + bytes([_STRING]) + struct.pack(">H", len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One framed message with string ``headers`` (in order) and ``payload``, both CRCs set."""
    raw_headers = b"".join(_header(name, value) for name, value in headers.items())
    total = _PRELUDE.size + _CRC.size + len(raw_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude))
    body = head + raw_headers + payload
    return body + _CRC.pack(zlib.crc32(body))
