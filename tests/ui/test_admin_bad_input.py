"""Odd input never breaks a page: every form post and query below answers a page with the API's
message (4xx) or a redirect, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.ui.conftest import Site, sign_in

FormData = dict[str, str | float | bool]

POSTS: list[tuple[str, FormData]] = [
    ("/ui/admin/users", {}),
    ("/ui/admin/users", {"username": "x" * 300, "password": "p", "groups": "nope"}),
    ("/ui/admin/users/nobody/change", {"change": "disable"}),
    ("/ui/admin/users/dana/change", {"change": "explode"}),
    ("/ui/admin/users/nobody/delete", {}),
    ("/ui/admin/users/dana/groups", {"groups": "no-such-group"}),
    ("/ui/admin/groups", {"name": ""}),
    ("/ui/admin/groups/nogroup/members", {"principal": "dana"}),
    ("/ui/admin/groups/developers/members", {"principal": "nobody"}),
    ("/ui/admin/groups/developers/members/nobody/remove", {}),
    ("/ui/admin/service-accounts", {"name": "Bad Name!"}),
    ("/ui/admin/tokens", {"name": "", "principal": "nobody"}),
    ("/ui/admin/tokens", {"name": "t", "principal": "dana", "expires_in_days": "99999"}),
    ("/ui/admin/tokens", {"name": "t2", "principal": "dana", "expires_in_days": "-1"}),
    ("/ui/admin/tokens/not-a-token/revoke", {}),
    ("/ui/admin/permissions", {"name": "", "repositories": "", "grants": "="}),
    ("/ui/admin/permissions/nothere", {"repositories": "dev"}),
    ("/ui/admin/permissions/nothere/delete", {}),
    ("/ui/admin/repositories", {"kind": "strange", "key": "k"}),
    ("/ui/admin/repositories", {"kind": "remote", "key": "r1", "upstream": "ftp://x"}),
    ("/ui/admin/repositories", {"kind": "remote", "key": "r2", "tag_ttl": "soon"}),
    ("/ui/admin/repositories", {"kind": "remote", "key": "r3", "upstream_timeout": "nan"}),
    ("/ui/admin/repositories", {"kind": "local", "key": "l1", "quota": "lots"}),
    ("/ui/admin/repositories/dev/settings", {"quota": "-5"}),
    ("/ui/admin/repositories/nothere/settings", {}),
    ("/ui/admin/repositories/dev/gate", {"from": "nothere", "require": "!"}),
    ("/ui/admin/repositories/dev/retention", {"retention": "[1, 2"}),
    ("/ui/admin/repositories/dev/retention", {"retention": "rules: .nan"}),
    ("/ui/admin/repositories/dev/retention", {"retention": "- just a list"}),
    ("/ui/admin/repositories/dev/retention/delete", {}),
    ("/ui/admin/repositories/prod/delete", {}),
    ("/ui/admin/webhooks", {"url": "not a url", "secret": "s", "events": "bogus"}),
    ("/ui/admin/webhooks/999999999999999999999/delete", {}),
    ("/ui/admin/webhooks/5/active", {"active": "maybe"}),
    ("/ui/admin/webhooks/5/deliveries/7/redeliver", {}),
    ("/ui/cleanup/plans", {"repo": "nothere"}),
    ("/ui/cleanup/plans", {"repo": "dev", "source": "inline", "rules": "{a: 1}"}),
    ("/ui/cleanup/plans", {"repo": "dev", "source": "inline", "rules": "- {tags: '*'}"}),
    ("/ui/cleanup/plans/nothere/apply", {}),
    ("/ui/cleanup/trash/123456/restore", {}),
]

GETS = [
    "/ui/admin/permissions/nothere",
    "/ui/admin/repositories/nothere",
    "/ui/admin/repositories/new?kind=weird",
    "/ui/admin/tokens?principal=nobody",
    "/ui/admin/webhooks/999999999999999999999",
    "/ui/admin/webhooks/12345",
    "/ui/audit?since=yesterday",
    "/ui/audit?limit=abc&actor=%00",
    "/ui/audit?outcome=maybe",
    "/ui/audit/export?until=never",
    "/ui/cleanup?repo=nothere",
    "/ui/cleanup/plans/nothere",
    "/ui/cleanup/trash?repo=nothere",
]


@pytest.fixture(scope="module")
def admin(browser: Browser, site: Site) -> Iterator[tuple[Page, str]]:
    """One signed-in admin page for the module (and its CSRF token): the posts below are
    independent of each other."""
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, site, site.admin)
        token = page.locator("input[name=csrf]").first.get_attribute("value")
        assert token
        yield page, token
    finally:
        context.close()


@pytest.mark.parametrize(("path", "form"), POSTS, ids=[p for p, _ in POSTS])
def test_odd_form_posts_never_answer_500(
    admin: tuple[Page, str], site: Site, path: str, form: FormData
) -> None:
    page, csrf = admin
    response = page.request.post(site.url + path, form={**form, "csrf": csrf}, max_redirects=0)
    assert response.status < 500, response.text()[:500]
    if response.status >= 400:
        assert "Tidegate" in response.text()  # a page, with the message


@pytest.mark.parametrize("path", GETS)
def test_odd_queries_never_answer_500(admin: tuple[Page, str], site: Site, path: str) -> None:
    page, _ = admin
    response = page.request.get(site.url + path, max_redirects=0)
    assert response.status < 500, response.text()[:500]
