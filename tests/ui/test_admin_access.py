"""Administration is for administrators: a developer sees no link to it, its pages answer the
403 page, and her form posts to it change nothing, even with her own valid CSRF token."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, sign_in

ADMIN_PAGES = [
    "/ui/admin",
    "/ui/admin/users",
    "/ui/admin/permissions",
    "/ui/admin/repositories/dev",
    "/ui/admin/webhooks",
    "/ui/audit",
]


def test_a_developer_sees_no_administration_links(page: Page, site: Site) -> None:
    sign_in(page, site, site.person("developers"))
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Cleanup")).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_answer_403_to_a_developer(page: Page, site: Site, path: str) -> None:
    sign_in(page, site, site.person("developers"))
    response = page.goto(site.url + path)
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_test_id("error-message")).to_have_text("this page is for administrators")


def test_a_developers_post_to_an_admin_action_is_refused(page: Page, site: Site) -> None:
    sign_in(page, site, site.person("developers"))
    # her own CSRF token, from the sign-out form of her page: valid, but not enough
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    response = page.request.post(
        f"{site.url}/ui/admin/users",
        form={"csrf": csrf, "username": "mallory", "password": "mallory-password-1"},
        max_redirects=0,
    )
    assert response.status == 403
    assert "this page is for administrators" in response.text()
    response = page.request.post(
        f"{site.url}/ui/admin/users/tess/change",
        form={"csrf": csrf, "change": "disable"},
        max_redirects=0,
    )
    assert response.status == 403
    with site.api() as api:
        assert api.get("/api/v1/users/mallory").status_code == 404
        assert api.get("/api/v1/users/tess").json()["disabled"] is False
