"""Webhooks in a real browser, delivering to a real HTTP receiver on loopback: created in the
UI, an event arrives, the delivery log shows it, and it can be sent again."""

from __future__ import annotations

import json

from playwright.sync_api import Locator, Page, expect

from tests.support.pushes import push_image, unique
from tests.support.receivers import webhook_receiver
from tests.ui.conftest import Site, screenshot, sign_in


def reload_until_visible(page: Page, locator: Locator, tries: int = 60) -> None:
    """Deliveries happen in the background: reload the log until ``locator`` shows."""
    for _ in range(tries):
        if locator.count() and locator.first.is_visible():
            return
        page.wait_for_timeout(500)
        page.reload()
    expect(locator.first).to_be_visible()


def test_a_webhook_made_in_the_ui_delivers_and_can_redeliver(page: Page, site: Site) -> None:
    image = unique("hooks/app")
    with webhook_receiver() as receiver:
        sign_in(page, site, site.admin)
        page.goto(f"{site.url}/ui/admin/webhooks")
        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Secret").fill("a-secret-of-sixteen-chars")
        page.get_by_role("checkbox", name="image.pushed").check()
        page.get_by_label("Repositories").fill("dev")
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_role("status")).to_contain_text("created")
        expect(page.get_by_text("set (write-only)")).to_be_visible()
        assert "a-secret-of-sixteen-chars" not in page.content()
        detail_url = page.url

        with site.api() as api:
            push_image(api, f"dev/{image}", "1.0")
        receiver.wait_for(1)
        event = json.loads(receiver.received[0].body)
        assert event["type"] == "io.tidegate.image.pushed"

        page.goto(detail_url)
        done = page.locator("tr[data-delivery]", has_text="succeeded")
        reload_until_visible(page, done)
        row = done.first
        expect(row).to_contain_text("image.pushed")
        expect(row).to_contain_text("204")
        screenshot(page, "webhook-deliveries")

        row.get_by_role("button", name="Redeliver").click()
        expect(page.get_by_role("status")).to_contain_text("queued to be sent again")
        receiver.wait_for(2)
        assert (
            receiver.received[1].headers["X-Tidegate-Delivery"]
            == (receiver.received[0].headers["X-Tidegate-Delivery"])
        )
        twice = page.locator("tr[data-delivery]", has_text="succeeded").filter(has_text="2")
        reload_until_visible(page, twice)

        # pause: the list says so, the API too
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("status")).to_contain_text("paused")
        with site.api() as api:
            hooks = api.get("/api/v1/webhooks").json()
        assert [h["active"] for h in hooks if h["url"] == receiver.url] == [False]


def test_a_refused_webhook_shows_the_apis_message_and_never_the_secret(
    page: Page, site: Site
) -> None:
    sign_in(page, site, site.admin)
    page.goto(f"{site.url}/ui/admin/webhooks")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
    page.get_by_label("Secret").fill("too-short")
    page.get_by_role("checkbox", name="image.pushed").check()
    page.get_by_role("button", name="Create webhook").click()
    expect(page.get_by_test_id("form-error")).to_contain_text("secret")
    expect(page.get_by_label("URL")).to_have_value("http://127.0.0.1:9/hook")
    expect(page.get_by_label("Secret")).to_have_value("")
