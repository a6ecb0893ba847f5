"""Glob patterns for repository keys and image names.

``**`` matches any run of characters, slashes included; ``*`` matches within one path segment
(no ``/``); ``?`` one character other than ``/``. Everything else is literal. A pattern matches
the whole name. So ``shop/**`` matches ``shop/cart`` and ``shop/a/b``; ``shop/*`` only the first.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            # "a/**" also matches "a" itself, and "**/b" matches "b"
            if pattern.startswith("**/", i) and (i == 0 or pattern[i - 1] == "/"):
                parts.append("(?:.*/)?")
                i += 3
                continue
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    regex = "".join(parts)
    if regex.endswith("/.*"):
        regex = regex[: -len("/.*")] + "(?:/.*)?"
    return re.compile(regex, re.DOTALL)


def matches(pattern: str, name: str) -> bool:
    return compile_glob(pattern).fullmatch(name) is not None


def matches_any(patterns: tuple[str, ...] | list[str], name: str) -> bool:
    return any(matches(p, name) for p in patterns)
