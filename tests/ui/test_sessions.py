"""A web UI session ends when the user's password changes (its token ends with the password)."""

from __future__ import annotations

import re
import secrets

from playwright.sync_api import Page, expect

from tests.ui.conftest import Person, Site, sign_in


def test_a_password_change_ends_the_users_ui_sessions(page: Page, site: Site) -> None:
    name = f"pw{secrets.token_hex(4)}"
    person = Person(name, secrets.token_urlsafe(12), "developers")
    with site.api() as api:
        made = api.post(
            "/api/v1/users",
            json={"username": name, "password": person.password, "groups": ["developers"]},
        )
        assert made.status_code == 201, made.text
    sign_in(page, site, person)
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()

    with site.api() as api:
        changed = api.patch(f"/api/v1/users/{name}", json={"password": secrets.token_urlsafe(12)})
        assert changed.status_code == 200, changed.text
        tokens = api.get("/api/v1/tokens", params={"principal": name}).json()
        assert [t["ends_with_password"] for t in tokens] == [True]  # the session, and only it

    page.goto(f"{site.url}/ui/search")
    expect(page).to_have_url(re.compile(r"/ui/login"))
