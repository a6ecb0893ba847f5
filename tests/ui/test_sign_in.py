"""Signing in and out of the web UI, sessions and CSRF, in a real browser."""

from __future__ import annotations

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
