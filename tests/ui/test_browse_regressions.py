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


def test_promote_promotes_the_digest_that_was_checked(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique("toctou/app")
    _, checked = push_image(dana_api, f"dev/{name}", "1.0")
    check_gate(page, site, name, "copy")
    expect(page.get_by_text(checked)).to_be_visible()
    _, pushed_later = push_image(dana_api, f"dev/{name}", "1.0")  # the tag moves meanwhile
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name="Promoted to test")).to_be_visible()
    with site.api() as admin:
        r = admin.get(f"/v2/test/{name}/manifests/1.0", headers={"Accept": "*/*"})
    assert r.headers["docker-content-digest"] == checked != pushed_later


def test_a_move_whose_tag_moved_since_the_check_is_not_done(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique("toctou/app")
    push_image(dana_api, f"dev/{name}", "1.0")
    check_gate(page, site, name, "move")
    push_image(dana_api, f"dev/{name}", "1.0")
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_test_id("error-message")).to_contain_text("nothing was promoted")
    with site.api() as admin:
        r = admin.get(f"/v2/test/{name}/manifests/1.0", headers={"Accept": "*/*"})
    assert r.status_code == 404
