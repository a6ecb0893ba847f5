"""The audit log in a real browser: filters, and the JSON-lines export."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Site, screenshot, sign_in


def test_filtering_by_actor_shows_only_that_actors_entries(page: Page, site: Site) -> None:
    dana = site.person("developers")
    # dana does something the audit log records; so does the admin
    made = httpx.post(
        f"{site.url}/api/v1/tokens", json={"name": "laptop"}, auth=(dana.name, dana.password)
    )
    assert made.status_code == 201
    with site.api() as api:
        api.post(
            "/api/v1/groups", json={"name": "auditors", "description": "read the log"}
        ).raise_for_status()

    sign_in(page, site, site.admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = page.locator("tbody tr[data-actor]")
    expect(rows.filter(has_text="group.created")).not_to_have_count(0)

    page.get_by_label("Actor").fill("dana")
    page.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_text="token.created")).not_to_have_count(0)
    actors = {rows.nth(i).get_attribute("data-actor") for i in range(rows.count())}
    assert actors == {"dana"}
    expect(page.locator("tbody")).not_to_contain_text("group.created")
    screenshot(page, "audit")

    page.get_by_label("Actor").fill("admin")
    page.get_by_label("Action").fill("group.created")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("auditors")

    # the export has exactly the filtered events, as JSON lines
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these filters as JSON lines").click()
    lines = Path(download.value.path()).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [(e["actor"], e["action"], e["target"]) for e in events] == [
        ("admin", "group.created", "auditors")
    ]


def test_a_bad_time_range_is_the_apis_message(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/audit?since=2026-12-04T10:00&until=2026-12-04T09:00")
    expect(page.get_by_test_id("form-error")).to_have_text("until must be later than since")


def test_the_time_filters_narrow_the_log(page: Page, site: Site) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/audit")
    rows = page.locator("tbody tr[data-actor]")
    expect(rows).not_to_have_count(0)
    page.get_by_label("From (UTC)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No events match.")).to_be_visible()
    expect(page.get_by_label("From (UTC)")).to_have_value("2099-01-01T00:00")
    page.get_by_label("From (UTC)").fill("2000-01-01T00:00")
    page.get_by_label("To (UTC)").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(rows).not_to_have_count(0)
