"""The name grammar: repository keys, wire names ``<repo-key>/<image>``, tags."""

from __future__ import annotations

import pytest

from tidegate.errors import ManifestInvalid, NameInvalid
from tidegate.oci.names import (
    NAME_MAX,
    REPOSITORY_KEY_MAX,
    split_name,
    validate_name,
    validate_repository_key,
    validate_tag,
)

# --- repository keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["dev", "docker", "a", "0", "team-a", "team.apps_2", "a-b.c_d", "a" * REPOSITORY_KEY_MAX]
)
def test_valid_repository_keys(key: str) -> None:
    assert validate_repository_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "Dev",
        "-dev",
        "dev-",
        "dev..prod",
        "dev--prod",
        "dev/prod",
        "dev prod",
        "dév",
        "a" * (REPOSITORY_KEY_MAX + 1),
        "dev\n",
    ],
)
def test_invalid_repository_keys_are_refused(key: str) -> None:
    with pytest.raises(NameInvalid) as raised:
        validate_repository_key(key)

    assert repr(key) in raised.value.message
    assert f"at most {REPOSITORY_KEY_MAX} characters" in raised.value.message


# --- wire names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "dev/app",
        "docker/library/alpine",
        "dev/shop/cart/debug",
        "dev/a.b",
        "dev/a_b",
        "dev/a__b",
        "dev/a-b",
        "dev/a---b",
        "dev/0",
        "docker",
    ],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Dev/app",
        "dev/App",
        "dev//app",
        "dev/app/",
        "/dev/app",
        "dev/-app",
        "dev/app-",
        "dev/a___b",
        "dev/a..b",
        "dev/a b",
        "dev/app:1.0",
        "dev/app\n",
    ],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(NameInvalid) as raised:
        validate_name(name)

    assert "invalid repository name" in raised.value.message


def test_name_length_limit() -> None:
    longest = "dev/" + "a" * (NAME_MAX - 4)
    assert len(longest) == NAME_MAX
    assert validate_name(longest) == longest

    too_long = longest + "a"
    with pytest.raises(NameInvalid) as raised:
        validate_name(too_long)
    assert f"{NAME_MAX + 1} characters long" in raised.value.message
    assert f"the limit is {NAME_MAX}" in raised.value.message


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("dev/app", ("dev", "app")),
        ("docker/library/alpine", ("docker", "library/alpine")),
        ("dev/shop/cart/debug", ("dev", "shop/cart/debug")),
        ("dev", ("dev", "")),
    ],
)
def test_split_name_into_repository_key_and_image(name: str, parts: tuple[str, str]) -> None:
    assert split_name(name) == parts


def test_split_name_validates() -> None:
    with pytest.raises(NameInvalid):
        split_name("Dev/App")


# --- tags ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", ["latest", "1.4.0", "v1.2.3-rc_1", "_private", "0", "UPPER", "a" * 128]
)
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", ".hidden", "-dash", "a" * 129, "v1:2", "v1/2", "v1 2", "v1+2", "latest\n"]
)
def test_invalid_tags_are_refused(tag: str) -> None:
    with pytest.raises(ManifestInvalid) as raised:
        validate_tag(tag)

    assert repr(tag) in raised.value.message
    assert "up to 128 characters" in raised.value.message
