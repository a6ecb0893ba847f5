"""Administration of people in a real browser: users, groups, service accounts and tokens."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, screenshot, sign_in


def accept_confirmations(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_admin_creates_a_user_and_adds_her_to_a_group(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_label("Username").fill("quinn")
    page.get_by_label("Password", exact=True).fill("quinn-password-1")
    page.get_by_role("checkbox", name="testers").check()
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_have_text("user quinn created")
    row = page.locator("tr[data-user=quinn]")
    expect(row).to_contain_text("active")
    screenshot(page, "admin-users")

    page.goto(f"{site.url}/ui/admin/groups")
    page.get_by_label("Add member to developers").fill("quinn")
    page.locator("section[data-group=developers]").get_by_role("button", name="Add").click()
    expect(page.get_by_role("status")).to_have_text("quinn added to developers")
    expect(page.locator("section[data-group=developers] ul.members")).to_contain_text("quinn")

    with site.api() as api:
        quinn = api.get("/api/v1/users/quinn").json()
    assert sorted(quinn["groups"]) == ["developers", "testers"]
    assert quinn["is_admin"] is False
    # she can sign in with the password given in the form
    me = httpx.get(f"{site.url}/api/v1/me", auth=("quinn", "quinn-password-1"))
    assert me.status_code == 200 and me.json()["name"] == "quinn"

    # remove her from a group, disable her: the API says so, and she can no longer sign in
    page.get_by_role("button", name="Remove quinn from developers").click()
    expect(page.get_by_role("status")).to_have_text("quinn removed from developers")
    page.goto(f"{site.url}/ui/admin/users")
    page.locator("tr[data-user=quinn]").get_by_role("button", name="Disable").click()
    expect(page.locator("tr[data-user=quinn]")).to_contain_text("disabled")
    with site.api() as api:
        quinn = api.get("/api/v1/users/quinn").json()
    assert quinn["groups"] == ["testers"] and quinn["disabled"] is True


def test_admin_deletes_a_user_after_confirming(page: Page, site: Site) -> None:
    with site.api() as api:
        api.post(
            "/api/v1/users", json={"username": "gone", "password": "gone-password-1"}
        ).raise_for_status()
    accept_confirmations(page)
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    page.locator("tr[data-user=gone]").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("user gone deleted")
    expect(page.locator("tr[data-user=gone]")).to_have_count(0)
    with site.api() as api:
        assert api.get("/api/v1/users/gone").status_code == 404


def test_a_bad_user_form_shows_the_apis_message(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    page.get_by_label("Username").fill("dana")  # taken
    page.get_by_label("Password", exact=True).fill("another-password-1")
    page.get_by_role("button", name="Create user").click()
    # the users page again (docs/ui.md), the API's message above the form, the name kept
    expect(page.get_by_test_id("form-error")).to_contain_text("dana")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value("dana")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")


def test_a_service_account_token_is_shown_once(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/service-accounts")
    page.get_by_label("Name").fill("jenkins")
    page.get_by_label("Groups (comma-separated)").fill("ci")
    page.get_by_role("button", name="Create service account").click()
    expect(page.get_by_role("status")).to_have_text("service account jenkins created")
    page.locator("tr[data-account=jenkins]").get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="Access tokens of jenkins")).to_be_visible()

    page.get_by_label("For").select_option("jenkins")
    page.get_by_label("Token name").fill("pipeline")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("heading", name="Token created")).to_be_visible()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_have_text(re.compile(r"^tdg_"))
    token = shown.inner_text()
    expect(page.get_by_role("button", name="Copy")).to_have_attribute("data-copy", token)
    # it works as the account's password
    me = httpx.get(f"{site.url}/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "jenkins"

    # never again: the token list names it, without the secret
    page.goto(f"{site.url}/ui/admin/tokens?principal=jenkins")
    row = page.locator("tr", has_text="pipeline")
    expect(row).to_contain_text("jenkins")
    expect(row).to_contain_text("active")
    assert token not in page.content()
    page.reload()
    assert token not in page.content()

    # revoking it (after confirming) stops it at once
    accept_confirmations(page)
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("revoked")
    expect(page.locator("tr", has_text="pipeline")).to_have_count(0)
    me = httpx.get(f"{site.url}/api/v1/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401


def test_a_refused_form_comes_back_with_the_message_and_what_was_typed(
    page: Page, site: Site
) -> None:
    """docs/ui.md: a refused form shows the API's message above it and keeps what was typed,
    never the password; it used to be a bare error page that lost the form."""
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    page.get_by_label("Username").fill("shorty")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Email (optional, for notifications)").fill("shorty@example.com")
    page.get_by_role("checkbox", name="testers").check()
    with page.expect_response(f"{site.url}/ui/admin/users") as answer:
        page.get_by_role("button", name="Create user").click()
    assert answer.value.status == 400
    expect(page.get_by_test_id("form-error")).to_contain_text("password")
    expect(page.get_by_label("Username")).to_have_value("shorty")
    expect(page.get_by_label("Email (optional, for notifications)")).to_have_value(
        "shorty@example.com"
    )
    expect(page.get_by_role("checkbox", name="testers")).to_be_checked()
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert "short" not in (page.get_by_label("Password", exact=True).get_attribute("value") or "")
    with site.api() as api:
        assert api.get("/api/v1/users/shorty").status_code == 404

    # the same for a group and a member that cannot be added, on the groups page
    page.goto(f"{site.url}/ui/admin/groups")
    page.get_by_label("Group name").fill("Bad Group!")
    page.get_by_label("Description").fill("typed by hand")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.get_by_label("Group name")).to_have_value("Bad Group!")
    expect(page.get_by_label("Description")).to_have_value("typed by hand")
    page.get_by_label("Add member to developers").fill("nobody-at-all")
    page.locator("section[data-group=developers]").get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("nobody-at-all")
    expect(page.get_by_label("Add member to developers")).to_have_value("nobody-at-all")

    # and a token whose lifetime is out of range keeps its name
    page.goto(f"{site.url}/ui/admin/tokens")
    page.get_by_label("Token name").fill("ci-forever")
    page.get_by_label("Expires in (days, 1 to 3650; empty: 90)").fill("9" * 40)
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("expires in")
    expect(page.get_by_label("Token name")).to_have_value("ci-forever")


def test_admin_sets_a_users_password(page: Page, site: Site) -> None:
    with site.api() as api:
        made = api.post(
            "/api/v1/users", json={"username": "forgetful", "password": "first-password-1"}
        )
        assert made.status_code == 201, made.text
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/users")
    page.get_by_label("User", exact=True).select_option("forgetful")
    page.get_by_label("New password (at least 8 characters)").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_test_id("password-error")).to_contain_text("8 to 1024 characters")
    page.get_by_label("User", exact=True).select_option("forgetful")
    page.get_by_label("New password (at least 8 characters)").fill("second-password-2")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("password of forgetful set")
    assert (
        httpx.get(f"{site.url}/api/v1/me", auth=("forgetful", "first-password-1")).status_code
        == 401
    )
    assert (
        httpx.get(f"{site.url}/api/v1/me", auth=("forgetful", "second-password-2")).status_code
        == 200
    )
