"""The seed's story (PRODUCT.md §10, scenarios 1-6) in the web UI, in a real browser: a push to
``dev`` shows in the pipeline; an admin promotes it to ``test`` after the gate preview (CI, the
other principal allowed to, is a service account and uses the API); CI records its results; a
tester records the user-acceptance result on the image page and the gate toward ``prod`` turns
green; operations promote it to ``prod``; the image page shows the lineage of both steps."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.support.pushes import push_image
from tests.ui.conftest import Person, Site, screenshot, sign_in


def make_ci(site: Site) -> Person:
    """A service account of the ``ci`` group, signing in with an access token as password."""
    with site.api() as admin:
        r = admin.post("/api/v1/service-accounts", json={"name": "ci-bot", "groups": ["ci"]})
        assert r.status_code == 201, r.text
        r = admin.post("/api/v1/tokens", json={"name": "pipeline", "principal": "ci-bot"})
        assert r.status_code == 201, r.text
    return Person("ci-bot", r.json()["token"], "ci")


def as_client(site: Site, person: Person) -> httpx.Client:
    return httpx.Client(base_url=site.url, auth=(person.name, person.password), timeout=30)


def switch(page: Page, site: Site, person: Person) -> None:
    page.context.clear_cookies()
    sign_in(page, site, person)


def test_the_story_from_push_to_prod(page: Page, site: Site) -> None:
    dana, tess, otto = (site.person(g) for g in ("developers", "testers", "operations"))
    ci = make_ci(site)
    with as_client(site, dana) as c:
        _, digest = push_image(c, "dev/shop/cart", "1.4.0")

    # 1. the push is in dev in the pipeline, and the gate toward test already passes
    sign_in(page, site, dana)
    row = page.locator("section.image-row", has=page.get_by_role("heading", name="shop/cart"))
    dev = row.locator('[data-stage="dev"]')
    expect(dev.get_by_role("link", name="1.4.0")).to_be_visible()
    expect(dev).to_contain_text("Gate toward test")
    expect(dev).to_contain_text("passes")
    expect(row.locator('[data-stage="test"]')).to_contain_text("not here")
    screenshot(page, "pipeline")

    # 2. it is promoted to test in the UI, the gate's evaluation shown first. Only CI and
    # admins may promote into test (PRODUCT.md §3); service accounts cannot sign in to the
    # UI (CI uses the API), so an admin does it here
    switch(page, site, site.admin)
    page.goto(f"{site.url}/ui/image/dev/shop/cart?ref=1.4.0")
    expect(page.get_by_label("Target repository")).to_have_value("test")
    page.get_by_role("button", name="Check gate").click()
    expect(page.get_by_role("status")).to_contain_text("The gate of test passes")
    expect(page.get_by_role("row", name="from pass")).to_be_visible()
    screenshot(page, "promote-preview")
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name="Promoted to test")).to_be_visible()

    # 3. CI records its automated results through the API, as a pipeline does
    with as_client(site, ci) as c:
        where = {"repo": "test", "image": "shop/cart", "reference": "1.4.0"}
        r = c.patch("/api/v1/properties", params=where, json={"qa.automated": ["passed"]})
        assert r.status_code == 200, r.text

    # 4. the tester sees what the prod gate still misses, and records qa.uat=passed
    switch(page, site, tess)
    page.goto(f"{site.url}/ui/image/test/shop/cart?ref=1.4.0")
    gate = page.locator(".gate-box")
    expect(gate).to_contain_text("Gate toward prod")
    expect(gate).to_contain_text("blocked")
    expect(gate.locator("li.fail")).to_have_text(["✗ qa.uat=passed fails"])
    expect(page.get_by_text("You may not promote shop/cart")).to_be_visible()
    page.get_by_label("Property key").fill("qa.uat")
    page.get_by_label("Value").fill("passed")
    page.get_by_role("button", name="Add property").click()
    expect(page.get_by_role("status")).to_contain_text("Set qa.uat=passed")
    expect(page.get_by_role("row", name="qa.uat passed")).to_be_visible()
    expect(gate).to_contain_text("passes")
    expect(gate.locator("li.fail")).to_have_count(0)
    screenshot(page, "image")

    # 5. operations promote it to prod; the gate passes
    switch(page, site, otto)
    page.goto(f"{site.url}/ui/image/test/shop/cart?ref=1.4.0")
    expect(page.get_by_label("Target repository")).to_have_value("prod")
    page.get_by_role("button", name="Check gate").click()
    for condition in ("from", "qa.automated=passed", "qa.uat=passed"):
        expect(page.get_by_role("row", name=f"{condition} pass")).to_be_visible()
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name="Promoted to prod")).to_be_visible()
    page.get_by_role("link", name="prod/shop/cart:1.4.0").click()

    # the lineage shows both steps, and the pipeline has the image in every stage
    steps = page.locator("tr.lineage-step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0)).to_contain_text("dev/shop/cart:1.4.0")
    expect(steps.nth(0)).to_contain_text("admin")
    expect(steps.nth(1)).to_contain_text("test/shop/cart:1.4.0")
    expect(steps.nth(1)).to_contain_text("otto")
    expect(page.get_by_test_id("digest")).to_have_text(digest)
    expect(page.get_by_text(f"docker pull {site.host}/prod/shop/cart:1.4.0")).to_be_visible()
    screenshot(page, "image-prod")
    page.goto(f"{site.url}/ui/")
    for repo in ("dev", "test", "prod"):
        expect(
            row.locator(f'[data-stage="{repo}"]').get_by_role("link", name="1.4.0")
        ).to_be_visible()
