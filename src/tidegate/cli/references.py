"""How the CLI names an image version: ``REPO/IMAGE:TAG`` or ``REPO/IMAGE@DIGEST``."""

from __future__ import annotations

from dataclasses import dataclass

from tidegate.cli.client import EXIT_USAGE, CliError


@dataclass(frozen=True, slots=True)
class ImageVersion:
    repo: str
    image: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        return self.tag or self.digest or ""


def parse_version(text: str) -> ImageVersion:
    """``dev/shop/cart:1.4.0`` or ``dev/shop/cart@sha256:...`` (usage error otherwise)."""
    tag = digest = None
    if "@" in text:
        name, _, digest = text.partition("@")
    else:
        name, sep, tag = text.rpartition(":")
        if not sep or "/" in tag:
            name, tag = text, None
    repo, _, image = name.partition("/")
    if not repo or not image or not (tag or digest):
        raise CliError(
            f"{text!r}: name an image version as REPO/IMAGE:TAG or REPO/IMAGE@DIGEST"
            " (e.g. dev/shop/cart:1.4.0)",
            EXIT_USAGE,
        )
    return ImageVersion(repo, image, tag, digest)


def parse_pairs(pairs: list[str]) -> dict[str, list[str]]:
    """``k=v`` arguments as properties; a key given twice gets both values."""
    values: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{pair!r}: properties are given as key=value", EXIT_USAGE)
        values.setdefault(key, []).append(value)
    return values
