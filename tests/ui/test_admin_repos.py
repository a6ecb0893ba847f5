"""Permission targets and repositories in a real browser: what the admin saves in the UI is
what the API answers afterwards; what the API refuses comes back as its message, with the
form keeping what was typed."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, screenshot, sign_in


def test_admin_creates_a_permission_target_and_the_api_shows_it(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/permissions")
    page.get_by_role("link", name="New permission target").click()
    page.get_by_label("Name").fill("team-x")
    page.get_by_label("Repositories").fill("dev\ntest")
    page.get_by_label("Include images").fill("team-x/**")
    page.get_by_label("Exclude images").fill("team-x/secret/**")
    page.get_by_label("Grants").fill("group:developers=read,deploy\nuser:tess=read,annotate")
    page.get_by_role("button", name="Create target").click()
    expect(page.get_by_role("status")).to_have_text("target team-x created")
    expect(page.get_by_role("heading", name="Permission target team-x")).to_be_visible()

    with site.api() as api:
        target = api.get("/api/v1/permissions/team-x").json()
    assert target == {
        "name": "team-x",
        "repositories": ["dev", "test"],
        "include": ["team-x/**"],
        "exclude": ["team-x/secret/**"],
        "users": {"tess": ["read", "annotate"]},
        "groups": {"developers": ["read", "deploy"]},
        "anonymous": [],
    }

    # edit: the grants textarea shows what is stored; a change is saved with PUT
    expect(page.get_by_label("Grants")).to_have_value(
        "group:developers=read,deploy\nuser:tess=read,annotate"
    )
    page.get_by_label("Grants").fill("group:developers=read")
    page.get_by_role("button", name="Save target").click()
    expect(page.get_by_role("status")).to_have_text("target team-x saved")
    with site.api() as api:
        target = api.get("/api/v1/permissions/team-x").json()
    assert target["groups"] == {"developers": ["read"]} and target["users"] == {}

    page.goto(f"{site.url}/ui/admin/permissions")
    expect(page.locator("tr[data-target=team-x]")).to_contain_text("group:developers=read")
    screenshot(page, "permissions")


def test_invalid_grants_show_the_message_and_keep_the_form(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/permissions/new")
    page.get_by_label("Name").fill("broken")
    page.get_by_label("Repositories").fill("dev")
    page.get_by_label("Grants").fill("group:developers=read,fly")
    page.get_by_role("button", name="Create target").click()
    expect(page.get_by_test_id("form-error")).to_contain_text(
        "groups.developers.1: Input should be 'read'"
    )
    expect(page.get_by_label("Grants")).to_have_value("group:developers=read,fly")

    page.get_by_label("Grants").fill("developers read")  # not PRINCIPAL=ACTIONS
    page.get_by_role("button", name="Create target").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("grants line 1")

    page.get_by_label("Grants").fill("anonymous=deploy")  # the API allows anonymous read only
    page.get_by_role("button", name="Create target").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    with site.api() as api:
        assert api.get("/api/v1/permissions/broken").status_code == 404


def test_admin_edits_a_gate_and_the_api_shows_it(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/repositories")
    page.locator("tr[data-repo=test]").get_by_role("link", name="test").click()
    expect(page.get_by_role("heading", name="Repository test")).to_be_visible()
    expect(page.get_by_label("From")).to_have_value("dev")
    page.get_by_label("From").fill("dev\nstage:dev")
    page.get_by_label("Require").fill(
        "qa.automated=passed\n!blocked\nreferrer=application/spdx+json"
    )
    page.get_by_role("button", name="Save gate").click()
    expect(page.get_by_role("status")).to_have_text("gate of test saved")
    with site.api() as api:
        gate = api.get("/api/v1/repositories/test/gate").json()
    assert gate == {
        "from": ["dev", "stage:dev"],
        "require": ["qa.automated=passed", "!blocked", "referrer=application/spdx+json"],
    }

    # a condition the API cannot read is refused with its message, and nothing changes
    page.get_by_label("Require").fill("referrer=")
    page.get_by_role("button", name="Save gate").click()
    expect(page.get_by_test_id("gate-error")).to_have_text(
        "condition 'referrer=' names no artifact type"
    )
    with site.api() as api:
        assert api.get("/api/v1/repositories/test/gate").json() == gate


def test_admin_creates_a_repository_edits_its_settings_and_retention_and_deletes_it(
    page: Page, site: Site
) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/repositories/new?kind=local")
    page.get_by_label("Repository key").fill("scratch")
    page.get_by_label("Stage").fill("dev")
    page.get_by_label("immutable_tags").select_option("yes")
    page.get_by_role("button", name="Create repository").click()
    expect(page.get_by_role("status")).to_have_text("repository scratch created")
    with site.api() as api:
        repo = api.get("/api/v1/repositories/scratch").json()
    assert repo["kind"] == "local" and repo["stage"] == "dev"
    assert repo["options"]["immutable_tags"] is True

    page.get_by_label("allow_push").select_option("no")
    page.get_by_label("immutable_tags").select_option("")  # back to the default
    page.get_by_label("quota").fill("10GiB")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("settings of scratch saved")
    with site.api() as api:
        options = api.get("/api/v1/repositories/scratch").json()["options"]
    assert options["allow_push"] is False and "immutable_tags" not in options
    assert options["quota"] == 10 * 1024**3

    page.get_by_role("textbox", name="Policy (YAML or JSON)").fill(
        "rules:\n  - tags: '*-SNAPSHOT'\n    keep_last: 2\n"
    )
    page.get_by_role("button", name="Save retention policy").click()
    expect(page.get_by_role("status")).to_have_text("retention policy of scratch saved")
    with site.api() as api:
        policy = api.get("/api/v1/repositories/scratch/retention").json()
    assert policy["rules"][0]["tags"] == "*-SNAPSHOT" and policy["rules"][0]["keep_last"] == 2

    page.get_by_role("textbox", name="Policy (YAML or JSON)").fill(
        "rules:\n  - tags: '*'\n    older_than: 14 days\n"
    )
    page.get_by_role("button", name="Save retention policy").click()
    expect(page.get_by_test_id("retention-error")).to_contain_text("older_than")

    page.goto(f"{site.url}/ui/admin/repositories/scratch")
    page.get_by_role("button", name="Delete repository").click()
    expect(page.get_by_role("status")).to_have_text("repository scratch deleted")
    with site.api() as api:
        assert api.get("/api/v1/repositories/scratch").status_code == 404


def test_a_bad_repository_key_is_the_apis_message_not_a_500(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/repositories/new?kind=virtual")
    page.get_by_label("Repository key").fill("Not A Key")
    page.get_by_label("members").fill("dev\nnowhere")
    page.get_by_role("button", name="Create repository").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.get_by_label("Repository key")).to_have_value("Not A Key")
