"""A user's own account page: their password and their tokens and sessions."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Person, Site, screenshot, sign_in


def new_person(site: Site) -> Person:
    person = Person(f"acc{secrets.token_hex(4)}", secrets.token_urlsafe(12), "developers")
    with site.api() as api:
        made = api.post(
            "/api/v1/users",
            json={"username": person.name, "password": person.password, "groups": ["developers"]},
        )
        assert made.status_code == 201, made.text
    return person


def test_a_user_changes_their_password_and_signs_in_with_the_new_one(
    page: Page, site: Site
) -> None:
    person = new_person(site)
    sign_in(page, site, person)
    page.get_by_role("link", name=person.name).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator("tr", has_text="this session")).to_have_count(1)
    screenshot(page, "account")

    page.get_by_label("Current password").fill("not-the-password")
    page.get_by_label("New password (at least 8 characters)").fill("brand-new-password")
    page.get_by_label("New password again").fill("brand-new-password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("current password is not right")

    page.get_by_label("Current password").fill(person.password)
    page.get_by_label("New password (at least 8 characters)").fill("brand-new-password")
    page.get_by_label("New password again").fill("brand-new-password")
    page.get_by_role("button", name="Change password").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    expect(page.get_by_role("alert")).to_contain_text("Your password was changed")

    old = httpx.get(f"{site.url}/api/v1/me", auth=(person.name, person.password))
    assert old.status_code == 401
    sign_in(page, site, Person(person.name, "brand-new-password", "developers"))
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()


def test_a_user_revokes_one_of_their_tokens(page: Page, site: Site) -> None:
    person = new_person(site)
    made = httpx.post(
        f"{site.url}/api/v1/tokens",
        json={"name": "old-laptop"},
        auth=(person.name, person.password),
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    sign_in(page, site, person)
    page.goto(f"{site.url}/ui/account")
    row = page.locator("tr", has_text="old-laptop")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".flash")).to_contain_text("revoked")
    expect(page.locator("tr", has_text="old-laptop")).to_have_count(0)
    refused = httpx.get(f"{site.url}/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    # the session itself has no revoke button: signing out ends it
    expect(page.locator("tr", has_text="this session").get_by_role("button")).to_have_count(0)
