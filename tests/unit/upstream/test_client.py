"""The upstream client's pure parts: challenges, name mapping, what it asks for."""

from __future__ import annotations

import anyio
import pytest

from tidegate.oci import mediatypes as mt
from tidegate.upstream import UpstreamClient, UpstreamConfig
from tidegate.upstream.client import MANIFEST_ACCEPT, _challenge


def test_a_bearer_challenge_is_parsed() -> None:
    scheme, params = _challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/alpine:pull",
    }
    assert _challenge('Basic realm="registry"') == ("basic", {"realm": "registry"})


@pytest.mark.parametrize(
    ("prefix", "image", "upstream"),
    [
        (True, "alpine", "library/alpine"),
        (True, "library/alpine", "library/alpine"),
        (True, "team/app", "team/app"),
        (False, "alpine", "alpine"),
    ],
)
def test_one_part_names_get_library_when_configured(
    prefix: bool, image: str, upstream: str
) -> None:
    async def check() -> None:
        client = UpstreamClient(UpstreamConfig("https://r.example", library_prefix=prefix))
        try:
            assert client.upstream_name(image) == upstream
        finally:
            await client.aclose()

    anyio.run(check)


def test_manifests_are_asked_for_in_every_type_we_store() -> None:
    for media_type in (mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST):
        assert media_type in MANIFEST_ACCEPT
    assert "v1+prettyjws" not in MANIFEST_ACCEPT  # schema1 is refused, never asked for


def test_the_password_is_not_in_the_config_repr() -> None:
    config = UpstreamConfig("https://r.example", "puller", "s3cret-pull-password")
    assert "s3cret-pull-password" not in repr(config)
