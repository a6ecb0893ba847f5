"""Glob patterns for repository keys and image names.

``**`` matches any run of characters, slashes included; ``*`` matches within one path segment
(no ``/``); ``?`` one character other than ``/``. Everything else is literal. A pattern matches
the whole name. So ``shop/**`` matches ``shop/cart`` and ``shop/a/b``; ``shop/*`` only the
first; ``**/cart`` also matches ``cart`` and ``shop/**`` also ``shop``.

Matching simulates the pattern as a set of states over the name (time proportional to pattern
length times name length): no backtracking, so no pattern an admin writes can make one request
take seconds (a regular expression of many ``*`` can).
"""

from __future__ import annotations

from functools import lru_cache

# A token: (kind, char, jump). kinds: "lit" (char), "any1" (one non-slash), "seg" (a run of
# non-slash), "all" (any run), "skip" (may jump ``jump`` tokens ahead without reading).
Token = tuple[str, str, int]


@lru_cache(maxsize=4096)
def _tokens(pattern: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    i = 0
    while i < len(pattern):
        at_segment_start = i == 0 or pattern[i - 1] == "/"
        if pattern.startswith("**/", i) and at_segment_start:
            tokens += [("skip", "", 3), ("all", "", 0), ("lit", "/", 0)]  # "**/b" matches "b"
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            tokens += [("skip", "", 3), ("lit", "/", 0), ("all", "", 0)]  # "a/**" matches "a"
            i += 3
        elif pattern.startswith("**", i):
            tokens.append(("all", "", 0))
            i += 2
        elif pattern[i] == "*":
            tokens.append(("seg", "", 0))
            i += 1
        elif pattern[i] == "?":
            tokens.append(("any1", "", 0))
            i += 1
        else:
            tokens.append(("lit", pattern[i], 0))
            i += 1
    return tuple(tokens)


def _closure(tokens: tuple[Token, ...], states: set[int]) -> set[int]:
    """Add every state reachable without reading a character."""
    todo = list(states)
    while todo:
        i = todo.pop()
        if i >= len(tokens):
            continue
        kind, _, jump = tokens[i]
        for nxt in (i + jump,) if kind == "skip" else (i + 1,) if kind in ("seg", "all") else ():
            if nxt not in states:
                states.add(nxt)
                todo.append(nxt)
        if kind == "skip" and i + 1 not in states:
            states.add(i + 1)
            todo.append(i + 1)
    return states


def matches(pattern: str, name: str) -> bool:
    tokens = _tokens(pattern)
    states = _closure(tokens, {0})
    for char in name:
        following: set[int] = set()
        for i in states:
            if i >= len(tokens):
                continue
            kind, literal, _ = tokens[i]
            if (kind == "lit" and literal == char) or (kind == "any1" and char != "/"):
                following.add(i + 1)
            elif (kind == "seg" and char != "/") or kind == "all":
                following.add(i)
        if not following:
            return False
        states = _closure(tokens, following)
    return len(tokens) in states


def matches_any(patterns: tuple[str, ...] | list[str], name: str) -> bool:
    return any(matches(p, name) for p in patterns)
