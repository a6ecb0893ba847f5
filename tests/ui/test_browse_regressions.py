"""Browsing pages, regressions a tester found: a page number of thousands of digits, the pager
past the last page, a promotion whose tag was pushed again between "Check gate" and "Promote",
the image page through the virtual ``docker`` repository and of a remote that cannot reach its
upstream, the copy button clicked twice, and removing a property that is not there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.support.pushes import push_image, unique
from tests.ui.conftest import Site, sign_in


@pytest.fixture
def dana_api(site: Site) -> Iterator[httpx.Client]:
    dana = site.person("developers")
    with httpx.Client(base_url=site.url, auth=(dana.name, dana.password), timeout=30) as c:
        yield c


@pytest.mark.parametrize("number", ["9" * 5000, "abc", "0", "²"])
def test_a_page_number_that_is_not_one_gives_a_400_page(
    page: Page, site: Site, number: str
) -> None:
    sign_in(page, site, site.person("developers"))
    response = page.goto(f"{site.url}/ui/?page={number}")
    assert response is not None and response.status == 400
    expect(page.get_by_test_id("error-message")).to_contain_text("is not a page number")


def test_a_page_past_the_last_says_so_and_links_to_the_last(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    push_image(dana_api, f"dev/{unique()}", "1.0")
    sign_in(page, site, site.person("developers"))
    page.goto(f"{site.url}/ui/?page=500")
    expect(page.get_by_role("status")).to_contain_text("No images on page 500")
    expect(page.get_by_text("Showing images")).to_have_count(0)
    expect(page.get_by_text("Page 500 of")).to_have_count(0)
    page.get_by_role("link", name="Go to the last page").click()
    expect(page.locator("section.image-row").first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Showing images \d+\u2013\d+ of \d+"))).to_be_visible()


def check_gate(page: Page, site: Site, name: str, mode: str) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/image/dev/{name}?ref=1.0")
    page.get_by_label("Target repository").select_option("test")
    page.get_by_role("radio", name=mode, exact=True).check()
    page.get_by_role("button", name="Check gate").click()


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_promote_does_not_promote_an_image_other_than_the_one_checked(
    page: Page, site: Site, dana_api: httpx.Client, mode: str
) -> None:
    name = unique("toctou/app")
    _, checked = push_image(dana_api, f"dev/{name}", "1.0")
    check_gate(page, site, name, mode)
    expect(page.get_by_text(checked)).to_be_visible()
    _, pushed_later = push_image(dana_api, f"dev/{name}", "1.0")  # the tag moves meanwhile
    page.get_by_role("button", name="Promote").click()
    message = page.get_by_test_id("error-message")
    expect(message).to_contain_text(f"now names {pushed_later}, not {checked}")
    expect(message).to_contain_text("nothing was promoted")
    with site.api() as admin:
        r = admin.get(f"/v2/test/{name}/manifests/1.0", headers={"Accept": "*/*"})
        assert r.status_code == 404
        # the image still there is the one pushed later, under its tag
        r = admin.get(f"/v2/dev/{name}/manifests/1.0", headers={"Accept": "*/*"})
        assert r.headers["docker-content-digest"] == pushed_later


def test_promote_after_a_check_promotes_the_tag_with_the_checked_digest(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique("toctou/app")
    _, checked = push_image(dana_api, f"dev/{name}", "1.0")
    check_gate(page, site, name, "copy")
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name="Promoted to test")).to_be_visible()
    page.get_by_role("link", name=f"test/{name}:1.0").click()
    expect(page.get_by_test_id("digest")).to_have_text(checked)
    expect(page.locator("tr.lineage-step")).to_contain_text(f"dev/{name}:1.0")


def test_the_image_page_through_the_virtual_docker_repository(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    _, digest = push_image(dana_api, f"docker/{name}", "1.0.0")  # pushes go to dev
    sign_in(page, site, site.person("developers"))
    response = page.goto(f"{site.url}/ui/image/docker/{name}?ref=1.0.0")
    assert response is not None and response.status == 200
    assert page.url == f"{site.url}/ui/image/dev/{name}?ref=1.0.0"
    expect(page.get_by_role("status")).to_contain_text(
        f"docker/{name}:1.0.0 is served by member dev"
    )
    expect(page.get_by_test_id("digest")).to_have_text(digest)
    # without a reference: the newest tag, in the first member that holds the image
    page.goto(f"{site.url}/ui/image/docker/{name}")
    expect(page.get_by_test_id("digest")).to_have_text(digest)
    response = page.goto(f"{site.url}/ui/image/docker/{name}?ref=9.9.9")
    assert response is not None and response.status == 404
    expect(page.get_by_test_id("error-message")).to_contain_text("no member of 'docker' serves")


def test_an_image_of_an_unreachable_remote_is_an_error_page_not_a_500(
    page: Page, site: Site
) -> None:
    key = f"far{unique('x').split('-')[1]}"
    with site.api() as admin:
        r = admin.post(
            "/api/v1/repositories",
            json={"key": key, "kind": "remote", "upstream": "http://127.0.0.1:9"},
        )
        assert r.status_code == 201, r.text
    sign_in(page, site, site.admin)
    response = page.goto(f"{site.url}/ui/image/{key}/library/nginx?ref=latest")
    assert response is not None
    assert response.status in (404, 502, 503, 504)
    expect(page.get_by_test_id("error-message")).not_to_be_empty()


def test_the_copy_button_gets_its_label_back_after_two_quick_clicks(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "1.0")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, site, site.person("developers"))
    page.goto(f"{site.url}/ui/image/dev/{name}?ref=1.0")
    button = page.get_by_role("button", name="Copy the docker command")
    button.click()
    expect(button).to_have_text("Copied")
    button.click()
    expect(button).to_have_text("Copied")
    expect(button).to_have_text("Copy", timeout=5_000)
    page.wait_for_timeout(2_000)
    expect(button).to_have_text("Copy")


def test_removing_a_property_that_is_gone_says_so(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "1.0")
    where = {"repo": "dev", "image": name, "reference": "1.0"}
    r = dana_api.patch("/api/v1/properties", params=where, json={"build.branch": ["main"]})
    assert r.status_code == 200, r.text
    sign_in(page, site, site.person("developers"))
    page.goto(f"{site.url}/ui/image/dev/{name}?ref=1.0")
    # someone else removes it while the page is open
    assert dana_api.delete("/api/v1/properties", params={**where, "key": "build.branch"}).is_success
    page.get_by_role("button", name="Remove build.branch").click()
    expect(page.get_by_role("status")).to_contain_text("No property build.branch")
    expect(page.get_by_role("status")).not_to_contain_text("Removed")


def test_a_cached_image_of_a_remote_shows_while_its_upstream_is_offline(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    _, digest = push_image(dana_api, f"dev/{name}", "1.0")
    key = f"mirror{unique('x').split('-')[1]}"
    with site.api() as admin:
        r = admin.post(
            "/api/v1/repositories",
            json={
                "key": key,
                "kind": "remote",
                "upstream": site.url,  # this very server: its dev repository is the upstream
                "upstream_username": site.admin.name,
                "upstream_password": site.admin.password,
            },
        )
        assert r.status_code == 201, r.text
        r = admin.get(f"/v2/{key}/dev/{name}/manifests/1.0", headers={"Accept": "*/*"})
        assert r.status_code == 200, r.text  # now cached
        r = admin.patch(f"/api/v1/repositories/{key}", json={"offline": True})
        assert r.status_code == 200, r.text
    sign_in(page, site, site.admin)
    response = page.goto(f"{site.url}/ui/image/{key}/dev/{name}?ref=1.0")
    assert response is not None and response.status == 200
    expect(page.get_by_test_id("digest")).to_have_text(digest)
    expect(page.get_by_text("properties are kept on images in local repositories")).to_be_visible()


def test_without_a_ref_the_image_page_shows_the_tag_that_arrived_last(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    """Not the newest of the first page of tags by name: 56 tags sort before the newest one."""
    name = f"dev/{unique()}"
    raw, _ = push_image(dana_api, name, "t00")
    for n in range(1, 56):
        r = dana_api.put(
            f"/v2/{name}/manifests/t{n:02d}",
            content=raw,
            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert r.status_code == 201, r.text
    push_image(dana_api, name, "zzz-newest")
    sign_in(page, site, site.person("developers"))
    page.goto(f"{site.url}/ui/image/{name}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("zzz-newest")
