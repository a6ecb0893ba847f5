"""Cleanup in a real browser, by a developer: plan with inline rules, review the items, apply
once, the tags are gone (checked over /v2), and restore one from the trash."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.pushes import push_image, unique
from tests.ui.conftest import Site, screenshot, sign_in


def tags(site: Site, name: str) -> list[str]:
    with site.api() as api:
        answer = api.get(f"/v2/dev/{name}/tags/list")
    return sorted(answer.json().get("tags") or []) if answer.status_code == 200 else []


def test_a_developer_plans_reviews_and_applies_a_cleanup(page: Page, site: Site) -> None:
    dana = site.person("developers")
    image = unique("shop/snap")
    with httpx.Client(base_url=site.url, auth=(dana.name, dana.password), timeout=60) as c:
        for tag in ("1.0-SNAPSHOT", "1.1-SNAPSHOT", "1.2-SNAPSHOT", "1.0"):
            push_image(c, f"dev/{image}", tag)
    assert tags(site, image) == ["1.0", "1.0-SNAPSHOT", "1.1-SNAPSHOT", "1.2-SNAPSHOT"]

    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, site, dana)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cleanup").click()
    page.get_by_label("Repository", exact=True).select_option("dev")
    page.get_by_label("these rules").check()
    page.get_by_label("Inline rules").fill("- tags: '*-SNAPSHOT'\n  keep_last: 1\n")
    page.get_by_role("button", name="Make plan").click()
    expect(page.get_by_role("status")).to_have_text("plan made: 2 item(s) to delete")
    expect(page.get_by_test_id("plan-state")).to_have_text("planned")

    items = page.locator("table", has=page.locator("caption", has_text="What applying deletes"))
    rows = items.locator(f"tbody tr[data-image='{image}']")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="1.1-SNAPSHOT")).to_contain_text("not among the 1 newest")
    expect(rows.filter(has_text="1.0-SNAPSHOT")).to_contain_text("not among the 1 newest")
    expect(items).not_to_contain_text("1.2-SNAPSHOT")
    screenshot(page, "cleanup-plan")

    page.get_by_role("button", name="Apply plan").click()
    expect(page.get_by_role("heading", name="Cleanup applied")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("2 item(s) of dev moved to the trash")
    assert tags(site, image) == ["1.0", "1.2-SNAPSHOT"]

    # the plan is used up: it says so, and has no apply button any more
    page.get_by_role("link", name="Back to the plan").click()
    expect(page.get_by_test_id("plan-state")).to_have_text("applied")
    expect(page.get_by_role("button", name="Apply plan")).to_have_count(0)

    # the trash has both; restoring one brings its tag back
    page.goto(f"{site.url}/ui/cleanup/trash?repo=dev")
    entry = page.locator("tr[data-entry]", has_text="1.0-SNAPSHOT")
    expect(entry).to_contain_text(image)
    entry.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status")).to_contain_text("with tags 1.0-SNAPSHOT")
    assert tags(site, image) == ["1.0", "1.0-SNAPSHOT", "1.2-SNAPSHOT"]


def test_a_plan_with_unreadable_rules_shows_why(page: Page, site: Site) -> None:
    sign_in(page, site, site.person("developers"))
    page.goto(f"{site.url}/ui/cleanup")
    page.get_by_label("these rules").check()
    page.get_by_label("Inline rules").fill("- tags: '*'\n  older_than: 14 days\n")
    page.get_by_role("button", name="Make plan").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("older_than")
    expect(page.get_by_label("Inline rules")).to_have_value("- tags: '*'\n  older_than: 14 days")

    # a YAML date is passed on as text, for the API to refuse by name; aliases are refused
    page.get_by_label("Inline rules").fill("- tags: '*'\n  older_than: 2026-01-01\n")
    page.get_by_role("button", name="Make plan").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("older_than")
    page.get_by_label("Inline rules").fill("- &r {tags: '*', keep_last: 1}\n- *r\n")
    page.get_by_role("button", name="Make plan").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("aliases")
