"""Names on the wire: ``<repository key>/<image>``; bad names get a clear error."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import error_code


def test_unknown_first_component_routes_to_the_default_repository(client: httpx.Client) -> None:
    """PRODUCT.md §2.4: ``HOST/nosuchrepo/app`` is ``docker/nosuchrepo/app``."""
    r = client.get("/v2/nosuchrepo/app/tags/list")
    message = r.json()["errors"][0]["message"]
    assert "'docker'" in message, message


def test_repository_key_without_image_is_invalid(client: httpx.Client) -> None:
    r = client.get("/v2/dev/manifests/latest")
    assert r.status_code == 400
    assert error_code(r) == "NAME_INVALID"
    assert "dev/<image>" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "bad", ["dev/UPPER", "dev/a//b", "dev/-lead", "dev/trail-", "dev/a..b", "dev/" + "a" * 260]
)
def test_malformed_names_are_name_invalid(client: httpx.Client, bad: str) -> None:
    r = client.get(f"/v2/{bad}/tags/list")
    assert r.status_code == 400, r.text
    assert error_code(r) == "NAME_INVALID"


def test_stage_repositories_refuse_direct_pushes(client: httpx.Client) -> None:
    for key in ("test", "prod"):
        r = client.post(f"/v2/{key}/shop/cart/blobs/uploads/")
        assert r.status_code == 403
        assert error_code(r) == "DENIED"
        assert "only by promotion" in r.json()["errors"][0]["message"]
        manifest = client.put(
            f"/v2/{key}/shop/cart/manifests/1.0",
            content=b"{}",
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert manifest.status_code == 403


def test_unknown_endpoint_and_wrong_method(client: httpx.Client) -> None:
    missing = client.get("/v2/dev/app/nothing-here")
    assert missing.status_code == 404
    wrong = client.post("/v2/dev/app/tags/list")
    assert wrong.status_code == 405
    assert error_code(wrong) == "UNSUPPORTED"


def test_wrong_method_lists_the_allowed_ones(client: httpx.Client) -> None:
    r = client.request("PATCH", "/v2/dev/app/manifests/v1")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}


def test_a_newline_in_a_name_is_name_invalid(client: httpx.Client) -> None:
    r = client.get("/v2/dev/a%0Ab/tags/list")
    assert r.status_code == 400
    assert error_code(r) == "NAME_INVALID"


def test_head_errors_announce_the_length_a_get_would_have(client: httpx.Client) -> None:
    head = client.head("/v2/dev/app/manifests/nope")
    get = client.get("/v2/dev/app/manifests/nope")
    assert head.status_code == get.status_code == 404
    assert head.content == b""
    assert head.headers["content-length"] == str(len(get.content))


def test_a_hostile_host_header_is_not_echoed_into_the_challenge(server: object) -> None:
    from tests.support.server import RunningServer

    assert isinstance(server, RunningServer)
    r = httpx.get(f"{server.url}/v2/", headers={"Host": 'evil",error="x'})
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert "evil" not in challenge
    assert challenge.startswith('Bearer realm="http://127.0.0.1:')
