"""Every form post of the UI carries this session's CSRF token, and a post from another site's
page is refused whatever it carries: refused posts answer 403 and change nothing (checked
through the API as the admin)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.ui.conftest import Site, sign_in


def user_exists(site: Site, name: str) -> bool:
    with site.api() as api:
        return api.get(f"/api/v1/users/{name}").status_code == 200


def test_posts_without_the_right_csrf_token_or_from_another_site_change_nothing(
    page: Page, site: Site
) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    csrf = page.locator("form[action='/ui/admin/users'] input[name=csrf]").get_attribute("value")
    assert csrf
    url = f"{site.url}/ui/admin/users"

    def create(name: str, **extra: str) -> int:
        form: dict[str, str | float | bool] = {"username": name, "password": f"{name}-pw-1234"}
        form.update(extra)
        return page.request.post(url, form=form, max_redirects=0).status

    assert create("nocsrf") == 403
    assert create("wrongcsrf", csrf="0" * 64) == 403
    assert create("othersession", csrf=csrf[::-1]) == 403
    evil = page.request.post(
        url,
        form={"csrf": csrf, "username": "evil", "password": "evil-password-1"},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert evil.status == 403
    assert "another site" in evil.text()
    for name in ("nocsrf", "wrongcsrf", "othersession", "evil"):
        assert not user_exists(site, name), name

    # the same post with this session's token, from this site, does create the user
    assert create("withcsrf", csrf=csrf) == 303
    assert user_exists(site, "withcsrf")
