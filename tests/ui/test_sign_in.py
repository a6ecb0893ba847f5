"""Signing in and out of the web UI, sessions and CSRF, in a real browser."""

from __future__ import annotations

import base64
import json
import re

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, screenshot, sign_in


def test_sign_in_shows_the_pipeline_and_sign_out_ends_the_session(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    screenshot(page, "sign-in")
    sign_in(page, site, site.person("developers"))
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "tidegate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    # the session's token was revoked: the old cookie no longer opens a page
    stale = httpx.get(
        f"{site.url}/ui/", cookies={"tidegate_session": cookie["value"]}, follow_redirects=False
    )
    assert stale.status_code == 303 and "/ui/login" in stale.headers["location"]


def test_a_wrong_password_is_refused_with_a_message(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong username or password")
    assert not [c for c in page.context.cookies() if c["name"] == "tidegate_session"]


def test_a_second_sign_in_tab_does_not_expire_the_first(page: Page, site: Site) -> None:
    """Each sign-in page used to mint a new nonce cookie: the first tab's form then failed
    once with "form expired"."""
    page.goto(f"{site.url}/ui/login")
    second = page.context.new_page()
    second.goto(f"{site.url}/ui/login")
    page.get_by_label("Username").fill(site.person("testers").name)
    page.get_by_label("Password").fill(site.person("testers").password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/ui/")
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()


def test_the_sign_in_page_says_only_messages_of_its_own(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/ui/login?m=Your+account+is+locked.+Call+0800-PHISH")
    expect(page.get_by_role("alert")).to_have_count(0)
    assert "PHISH" not in page.content()
    page.goto(f"{site.url}/ui/login?m=signed-out")
    expect(page.get_by_role("alert")).to_have_text("You have signed out.")
    # no icon request: the page names an empty one (browsers asked for /favicon.ico)
    assert page.locator("link[rel=icon]").get_attribute("href") == "data:,"


def test_a_service_accounts_token_in_a_cookie_opens_no_session(site: Site) -> None:
    """Service accounts cannot sign in here: a hand-made cookie with a robot's token used to
    open the UI anyway, since the check was made only by the sign-in form."""
    with site.api() as api:
        api.post("/api/v1/service-accounts", json={"name": "robo", "groups": ["ci"]})
        token = api.post("/api/v1/tokens", json={"name": "t", "principal": "robo"}).json()["token"]
    raw = json.dumps({"u": "robo", "t": token}).encode()
    cookie = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    answer = httpx.get(
        f"{site.url}/ui/", cookies={"tidegate_session": cookie}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2F&m=service-account"
    assert 'tidegate_session=""' in answer.headers["set-cookie"]
    login = httpx.get(site.url + answer.headers["location"])
    assert "Service accounts cannot sign in here" in login.text


def test_refusals_of_the_ui_itself_are_pages_not_plain_text(page: Page, site: Site) -> None:
    for path, status in (("/ui/no-such-page", 404), ("/ui/admin/no/such/page", 404)):
        answer = httpx.get(site.url + path)
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("text/html")
        assert "Tidegate" in answer.text and "no such page" in answer.text
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    logout = httpx.get(f"{site.url}/ui/logout")  # a form's address opened as a page
    assert logout.status_code == 405 and "Tidegate" in logout.text
    assert logout.headers["content-type"].startswith("text/html")

    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    upload = page.request.post(
        f"{site.url}/ui/admin/users",
        multipart={
            "csrf": csrf,
            "username": "filed",
            "file": {"name": "a.txt", "mimeType": "text/plain", "buffer": b"x"},
        },
    )
    assert upload.status == 400 and "Tidegate" in upload.text()
    assert upload.headers["content-type"].startswith("text/html")


def test_a_form_posted_after_the_session_ended_leads_back_to_its_page(site: Site) -> None:
    """A POST cannot be repeated as a GET: signing in again leads to the page the form was
    on (when it is a page of this UI), not to the form's address (a 404 or 405)."""
    url = f"{site.url}/ui/admin/groups/developers/members"
    came_from = {"referer": f"{site.url}/ui/admin/groups"}
    answer = httpx.post(url, data={"principal": "x"}, headers=came_from)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fadmin%2Fgroups"
    stale = base64.urlsafe_b64encode(b'{"u": "admin", "t": "tdg_gone"}').decode()
    answer = httpx.post(
        url, data={"principal": "x"}, headers=came_from, cookies={"tidegate_session": stale}
    )
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Fadmin%2Fgroups&m=expired"
    elsewhere = httpx.post(url, data={}, headers={"referer": "http://evil.example/ui/admin"})
    assert elsewhere.headers["location"] == "/ui/login?next=%2Fui%2F"
