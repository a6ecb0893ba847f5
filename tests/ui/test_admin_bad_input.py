"""Odd input never breaks a page: every form post and query below answers a page with the API's
message (4xx) or a redirect, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.ui.conftest import Site, sign_in

FormData = dict[str, str | float | bool]
HUGE = "9" * 5000  # past Python's 4300-digit limit of int()
DEEP = "[" * 1000 + "]" * 1000  # past the YAML composer's recursion

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
    # numbers of thousands of digits (int() refuses them with ValueError) and deep or odd YAML
    ("/ui/admin/tokens", {"name": "t3", "principal": "dana", "expires_in_days": HUGE}),
    ("/ui/admin/repositories", {"kind": "local", "key": "l2", "quota": HUGE}),
    ("/ui/admin/repositories", {"kind": "local", "key": "l3", "quota": "9" * 400}),
    ("/ui/admin/repositories", {"kind": "remote", "key": "r4", "tag_ttl": HUGE}),
    ("/ui/admin/repositories/dev/settings", {"quota": HUGE}),
    (f"/ui/admin/webhooks/{HUGE}/delete", {}),
    (f"/ui/admin/webhooks/5/deliveries/{HUGE}/redeliver", {}),
    (f"/ui/cleanup/trash/{HUGE}/restore", {}),
    ("/ui/admin/repositories/dev/retention", {"retention": DEEP}),
    ("/ui/admin/repositories/dev/retention", {"retention": "{2026-01-01: 1}"}),
    ("/ui/cleanup/plans", {"repo": "dev", "source": "inline", "rules": DEEP}),
    ("/ui/cleanup/plans", {"repo": "dev", "source": "inline", "rules": "{2026-01-01: 1}"}),
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
    f"/ui/audit?limit={HUGE}",
    f"/ui/admin/webhooks/{HUGE}",
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


@pytest.mark.parametrize(("path", "form"), POSTS, ids=[p[:60] for p, _ in POSTS])
def test_odd_form_posts_never_answer_500(
    admin: tuple[Page, str], site: Site, path: str, form: FormData
) -> None:
    page, csrf = admin
    response = page.request.post(site.url + path, form={**form, "csrf": csrf}, max_redirects=0)
    assert response.status < 500, response.text()[:500]
    if response.status >= 400:
        assert "Tidegate" in response.text()  # a page, with the message


@pytest.mark.parametrize("path", GETS, ids=[p[:60] for p in GETS])
def test_odd_queries_never_answer_500(admin: tuple[Page, str], site: Site, path: str) -> None:
    page, _ = admin
    response = page.request.get(site.url + path, max_redirects=0)
    assert response.status < 500, response.text()[:500]


NUMBERS_AND_YAML: list[tuple[str, FormData, str]] = [
    ("/ui/admin/tokens", {"name": "t4", "principal": "dana", "expires_in_days": HUGE}, "expires"),
    ("/ui/admin/repositories", {"kind": "local", "key": "l4", "quota": HUGE}, "quota"),
    ("/ui/admin/repositories", {"kind": "remote", "key": "r5", "tag_ttl": HUGE}, "tag_ttl"),
    (f"/ui/cleanup/trash/{HUGE}/restore", {}, "trash entry"),
    (f"/ui/admin/webhooks/5/deliveries/{HUGE}/redeliver", {}, "delivery"),
    ("/ui/admin/repositories/dev/retention", {"retention": DEEP}, "nested"),
    ("/ui/cleanup/plans", {"repo": "dev", "source": "inline", "rules": DEEP}, "nested"),
]


@pytest.mark.parametrize(
    ("path", "form", "said"), NUMBERS_AND_YAML, ids=[p[:40] for p, _, _ in NUMBERS_AND_YAML]
)
def test_huge_numbers_and_deep_yaml_are_a_400_page_that_says_what(
    admin: tuple[Page, str], site: Site, path: str, form: FormData, said: str
) -> None:
    page, csrf = admin
    response = page.request.post(site.url + path, form={**form, "csrf": csrf}, max_redirects=0)
    assert response.status == 400, response.text()[:300]
    assert said in response.text() and "Tidegate" in response.text()


def test_a_huge_audit_limit_or_webhook_id_is_a_page_not_a_500(
    admin: tuple[Page, str], site: Site
) -> None:
    page, _ = admin
    audit = page.request.get(f"{site.url}/ui/audit?limit={HUGE}")
    assert audit.status == 200  # as any limit past 10 000: the most the page shows
    hook = page.request.get(f"{site.url}/ui/admin/webhooks/{HUGE}")
    assert hook.status == 400 and "webhook: a whole number" in hook.text()


def test_a_date_key_in_rules_is_the_apis_to_judge_not_a_500(
    admin: tuple[Page, str], site: Site
) -> None:
    page, csrf = admin
    response = page.request.post(
        f"{site.url}/ui/admin/repositories/dev/retention",
        form={"retention": "{2026-01-01: 1}", "csrf": csrf},
    )
    assert response.status == 400
    assert "2026-01-01: 1" in response.text()  # the text typed is still in the form


DOT_POSTS: list[tuple[str, FormData]] = [
    ("/ui/admin/groups/victim/members/%2E%2E/remove", {}),
    ("/ui/admin/groups/victim/members/%2E/remove", {}),
    ("/ui/admin/groups/victim/members", {"principal": ".."}),
    ("/ui/admin/users/%2E%2E/change", {"change": "disable"}),
    ("/ui/admin/users/%2E%2E/groups", {"groups": "developers"}),
    ("/ui/admin/tokens/%2E%2E/revoke", {}),
    ("/ui/admin/permissions/%2E%2E/delete", {}),
    ("/ui/admin/repositories/%2E%2E/delete", {}),
    ("/ui/cleanup/plans/%2E%2E/apply", {}),
]


def test_dot_segments_never_reach_another_endpoint(admin: tuple[Page, str], site: Site) -> None:
    """``.../members/%2E%2E/remove`` arrived at the API as ``DELETE /groups/victim/members/..``,
    which URL normalisation turned into ``DELETE /groups/victim``: the whole group went.
    Posted with httpx, which sends ``%2E%2E`` as is (a browser would resolve it first)."""
    page, csrf = admin
    with site.api() as api:
        api.post("/api/v1/groups", json={"name": "victim", "members": ["dana"]}).raise_for_status()
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookies, timeout=30) as ui:
        for path, form in DOT_POSTS:
            response = ui.post(path, data={**form, "csrf": csrf})
            assert response.status_code == 400, (path, response.status_code)
            assert "not a valid name" in response.text, path
    with site.api() as api:
        victim = api.get("/api/v1/groups/victim")
        assert victim.status_code == 200 and victim.json()["members"] == ["dana"]
        assert api.get("/api/v1/users/dana").json()["disabled"] is False
        assert api.get("/api/v1/repositories/dev").status_code == 200
