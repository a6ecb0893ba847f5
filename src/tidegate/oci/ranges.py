"""HTTP byte ranges as the distribution spec uses them: ``Range`` on blob reads and
``Content-Range`` on chunked uploads."""

from __future__ import annotations

import re

from tidegate.errors import RangeNotSatisfiable

_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)
_CONTENT_RANGE_RE = re.compile(r"(?:bytes[ =])?([0-9]+)-([0-9]+)(?:/(?:[0-9]+|\*))?", re.ASCII)
_MAX_DIGITS = 19  # beyond any real size; also keeps int() far from its digit limit


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (start, end) a ``Range`` header asks for, or None to send everything.

    A header that is not a single ``bytes=`` range (other units, several ranges, garbage) is
    ignored, as RFC 9110 allows. A range that starts past the end or ends before it starts
    raises RangeNotSatisfiable (416): the OCI conformance suite expects 416 for both.
    """
    if not header:
        return None
    m = _RANGE_RE.fullmatch(header.strip().replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS:
        raise RangeNotSatisfiable(f"range {header[:60]!r} is outside any blob", size)
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} selects no bytes", size)
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(
            f"range {header!r} does not select bytes of a blob of {size} bytes", size
        )
    return start, min(end, size - 1)


def parse_content_range(header: str | None) -> tuple[int, int] | None:
    """The inclusive (start, end) of an upload chunk's ``Content-Range``; None when absent.

    Raises RangeNotSatisfiable (416) for a malformed header, as the spec asks.
    """
    if header is None or header == "":
        return None
    m = _CONTENT_RANGE_RE.fullmatch(header.strip())
    if not m or len(m.group(1)) > _MAX_DIGITS or len(m.group(2)) > _MAX_DIGITS:
        raise RangeNotSatisfiable(
            f"malformed Content-Range {header[:60]!r}: expected <start>-<end>, e.g. 0-1023", -1
        )
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise RangeNotSatisfiable(f"Content-Range {header!r} ends before it starts", -1)
    return start, end
