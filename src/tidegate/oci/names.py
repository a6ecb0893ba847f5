"""The name grammar: repository keys, image names, tags (OCI distribution spec)."""

from __future__ import annotations

import re

from tidegate.errors import ManifestInvalid, NameInvalid

REPOSITORY_KEY_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
REPOSITORY_KEY_MAX = 64
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
IMAGE_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
NAME_MAX = 255


def validate_repository_key(key: str) -> str:
    if len(key) > REPOSITORY_KEY_MAX or not REPOSITORY_KEY_RE.fullmatch(key):
        raise NameInvalid(
            f"invalid repository key {key!r}: lower-case letters and digits separated by"
            f" '.', '_' or '-', at most {REPOSITORY_KEY_MAX} characters"
        )
    return key


def validate_name(name: str) -> str:
    """Validate a full wire name ``<repo-key>/<image>`` (length and OCI grammar)."""
    if len(name) > NAME_MAX:
        raise NameInvalid(
            f"repository name is {len(name)} characters long; the limit is {NAME_MAX}"
        )
    if not IMAGE_NAME_RE.fullmatch(name):
        raise NameInvalid(
            f"invalid repository name {name!r}: path components of lower-case letters and digits"
            " separated by '.', '_', '__' or '-'"
        )
    return name


def split_name(name: str) -> tuple[str, str]:
    """Split ``<repo-key>/<image>`` into its two parts (the image may contain slashes)."""
    validate_name(name)
    key, _, image = name.partition("/")
    return key, image


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise ManifestInvalid(
            f"invalid tag {tag!r}: up to 128 characters of letters, digits, '_', '.' and '-',"
            " not starting with '.' or '-'"
        )
    return tag
