"""Browsing pages of the web UI in a real browser: who gets a promote button for which stage, a
refused promotion's failed conditions, editing properties, search by property, an index's
platforms and referrers, the repository list, bad input as error pages, and the pipeline on a
phone-sized screen."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.pushes import push, push_blob, push_image, sha256, unique
from tests.ui.conftest import Person, Site, screenshot, sign_in

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
SPDX = "application/spdx+json"


@pytest.fixture
def dana_api(site: Site) -> Iterator[httpx.Client]:
    dana = site.person("developers")
    with httpx.Client(base_url=site.url, auth=(dana.name, dana.password), timeout=30) as c:
        yield c


def open_image(page: Page, site: Site, person: Person, path: str) -> None:
    sign_in(page, site, person)
    page.goto(f"{site.url}/ui/image/{path}")


def test_a_developer_gets_no_promote_button_for_prod(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "1.0")
    open_image(page, site, site.person("developers"), f"dev/{name}?ref=1.0")
    expect(page.get_by_role("heading", name="Promote")).to_be_visible()
    expect(page.get_by_text(f"You may not promote {name} into any repository")).to_be_visible()
    expect(page.get_by_role("button", name="Check gate")).to_have_count(0)
    expect(page.get_by_role("option", name="prod")).to_have_count(0)
    # she may annotate in dev: the property form is there
    expect(page.get_by_role("button", name="Add property")).to_be_visible()

    # operations may promote into prod only: prod is the one target offered
    page.context.clear_cookies()
    open_image(page, site, site.person("operations"), f"dev/{name}?ref=1.0")
    expect(page.locator("#target option")).to_have_text(["prod"])
    expect(page.get_by_role("button", name="Add property")).to_have_count(0)


def test_a_refused_promotion_lists_each_failed_condition(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "2.0")
    open_image(page, site, site.person("operations"), f"dev/{name}?ref=2.0")
    page.get_by_label("Target repository").select_option("prod")
    page.get_by_role("button", name="Check gate").click()
    expect(page.get_by_role("alert")).to_contain_text("refuses this image now")
    for condition in ("from", "qa.automated=passed", "qa.uat=passed"):
        expect(page.get_by_role("row", name=f"{condition} fail")).to_be_visible()
    page.get_by_role("button", name="Promote").click()

    expect(page.get_by_role("heading", name="Promotion refused")).to_be_visible()
    failed = page.locator("ul.failed li")
    expect(failed).to_have_count(3)
    expect(failed.nth(0)).to_contain_text("from: dev is not an allowed source (allowed: test)")
    expect(failed.nth(1)).to_contain_text("qa.automated=passed: qa.automated is not set")
    expect(failed.nth(2)).to_contain_text("qa.uat=passed: qa.uat is not set")
    screenshot(page, "promote-refused")
    # the refusal is part of the image's lineage
    page.get_by_role("link", name="Back to the image").click()
    expect(page.locator("tr.lineage-step")).to_contain_text("refused")


def test_properties_are_added_and_removed_on_the_image_page(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "3.0")
    open_image(page, site, site.person("developers"), f"dev/{name}?ref=3.0")
    page.get_by_label("Property key").fill("build.branch")
    page.get_by_label("Value").fill("main")
    page.get_by_role("button", name="Add property").click()
    expect(page.get_by_role("row", name="build.branch main")).to_be_visible()
    # system properties are read-only: no remove button for them
    expect(page.get_by_role("button", name="Remove tidegate.pushed_by")).to_have_count(0)
    page.get_by_role("button", name="Remove build.branch").click()
    expect(page.get_by_role("status")).to_contain_text("Removed build.branch")
    expect(page.get_by_role("row", name="build.branch main")).to_have_count(0)
    # a tester only reads dev: no form
    page.context.clear_cookies()
    open_image(page, site, site.person("testers"), f"dev/{name}?ref=3.0")
    expect(page.get_by_role("button", name="Add property")).to_have_count(0)


def test_search_by_property_finds_the_image(page: Page, site: Site, dana_api: httpx.Client) -> None:
    name = unique("team/search")
    push_image(dana_api, f"dev/{name}", "4.0")
    push_image(dana_api, f"dev/{name}", "4.1")
    ticket = f"T-{uuid.uuid4().hex[:6]}"
    where = {"repo": "dev", "image": name, "reference": "4.1"}
    r = dana_api.patch("/api/v1/properties", params=where, json={"ticket": [ticket]})
    assert r.status_code == 200, r.text

    sign_in(page, site, site.person("testers"))
    page.get_by_role("link", name="Search").click()
    page.get_by_label("Repository").select_option("dev")
    page.get_by_label("Image (glob)").fill("team/**")
    page.get_by_label("Property conditions").fill(f"ticket={ticket}")
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table.results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(name)
    expect(rows).to_contain_text("4.1")
    expect(rows).to_contain_text(f"ticket={ticket}")
    screenshot(page, "search")
    page.get_by_label("Property conditions").fill(f"ticket!={ticket}")
    page.get_by_label("Image (glob)").fill(name)
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("4.0")
    rows.get_by_role("link", name="4.0").click()
    expect(page.get_by_role("heading", name=f"{name} 4.0")).to_be_visible()


def push_index_with_sbom(c: httpx.Client, name: str, tag: str) -> tuple[str, str]:
    """A two-platform index with an SBOM referrer; (index digest, SBOM digest)."""
    children = []
    for arch in ("amd64", "arm64"):
        raw, digest = push_image(c, name, f"{tag}-{arch}")
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(raw),
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    index_raw, index = push(
        c, name, tag, {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
    )
    sbom = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SPDX,
        "config": {"mediaType": OCI_EMPTY, "digest": push_blob(c, name, b"{}"), "size": 2},
        "layers": [{"mediaType": SPDX, "digest": push_blob(c, name, b'{"spdx": 1}'), "size": 11}],
        "subject": {"mediaType": OCI_INDEX, "digest": index, "size": len(index_raw)},
    }
    raw = json.dumps(sbom).encode()

    return index, push(c, name, sha256(raw), sbom)[1]


def test_an_index_shows_its_platforms_and_referrers(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    index, sbom = push_index_with_sbom(dana_api, f"dev/{name}", "5.0")
    open_image(page, site, site.person("developers"), f"dev/{name}?ref=5.0")
    expect(page.get_by_test_id("digest")).to_have_text(index)
    platforms = page.locator("section", has=page.get_by_role("heading", name="Platforms"))
    expect(platforms.get_by_role("row", name="linux/amd64")).to_be_visible()
    expect(platforms.get_by_role("row", name="linux/arm64")).to_be_visible()
    referrers = page.locator("section", has=page.get_by_role("heading", name="Referrers"))
    expect(referrers).to_contain_text(SPDX)
    expect(referrers).to_contain_text(sbom[:19])
    platforms.get_by_role("row", name="linux/arm64").get_by_role("link").click()
    expect(page.get_by_role("heading", name="Layers")).to_be_visible()
    expect(page.get_by_role("heading", name="Platforms")).to_have_count(0)


def test_repositories_by_kind_and_a_repository_s_images(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "6.0")
    sign_in(page, site, site.person("developers"))
    page.get_by_role("link", name="Repositories").click()
    for kind in ("Local", "Remote", "Virtual"):
        expect(page.get_by_role("heading", name=f"{kind} repositories")).to_be_visible()
    expect(page.get_by_role("row", name="prod prod")).to_contain_text("immutable tags")
    expect(page.get_by_role("row", name="prod prod")).to_contain_text("qa.uat=passed")
    docker = page.get_by_role("row").filter(has=page.get_by_role("link", name="docker", exact=True))
    expect(docker).to_contain_text("dev → test → prod → hub")
    page.get_by_role("link", name="dev", exact=True).click()
    expect(page.get_by_role("heading", name="dev local stage dev")).to_be_visible()
    expect(page.get_by_role("link", name=name).first).to_be_visible()
    screenshot(page, "repository")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("repositories/nowhere", 404, "no repository 'nowhere'"),
        ("repositories/Bad..Key", 400, "is not a repository key"),
        ("image/dev/shop/cart?ref=not%20a%20ref", 400, "neither a tag nor a digest"),
        ("image/dev/shop/cart?ref=sha256:abc", 400, "is not a valid sha256 digest"),
        ("image/dev/no/such-image?ref=1.0", 404, ""),
        ("image/nowhere/shop/cart?ref=1.0", 404, "no repository 'nowhere'"),
        ("image/dev/Shop/Cart?ref=1.0", 400, "is not an image name"),
        ("search?repo=nowhere", 400, "nowhere"),
    ],
)
def test_bad_input_gives_an_error_page_with_the_api_s_message(
    page: Page, site: Site, path: str, status: int, message: str
) -> None:
    sign_in(page, site, site.person("developers"))
    response = page.goto(f"{site.url}/ui/{path}")
    assert response is not None and response.status == status
    expect(page.get_by_test_id("error-message")).to_contain_text(message)


WIDTH = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


def test_the_pipeline_fits_a_phone_screen(browser: Browser, site: Site) -> None:
    """Nothing scrolls sideways at 390 px: not the pipeline, not search, and not a promoted
    image's page as a tester sees it (long ``tidegate.promoted_from`` values and the property
    table's remove column)."""
    dana = site.person("developers")
    name = unique("a-rather-long/image-name/for-phones")
    with httpx.Client(base_url=site.url, auth=(dana.name, dana.password), timeout=30) as c:
        push_image(c, f"dev/{name}", "2026.12.04-rc1")
    with site.api() as admin:
        moved = admin.post(
            "/api/v1/promotions",
            json={"source": "dev", "target": "test", "image": name, "tag": "2026.12.04-rc1"},
        )
        assert moved.status_code == 201, moved.text
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, site, dana)
        expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
        expect(page.locator("section.image-row").first).to_be_visible()
        screenshot(page, "pipeline-phone")
        assert page.evaluate(WIDTH) <= 390 + 1
        page.goto(f"{site.url}/ui/search")
        assert page.evaluate(WIDTH) <= 390 + 1
        page.get_by_role("button", name="Sign out").click()
        sign_in(page, site, site.person("testers"))
        page.goto(f"{site.url}/ui/image/test/{name}?ref=2026.12.04-rc1")
        expect(page.get_by_role("button", name="Add property")).to_be_visible()
        assert page.evaluate(WIDTH) <= 390 + 1
    finally:
        context.close()


def test_a_promotion_with_a_new_tag_and_properties(
    page: Page, site: Site, dana_api: httpx.Client
) -> None:
    name = unique()
    push_image(dana_api, f"dev/{name}", "7.0")
    open_image(page, site, site.admin, f"dev/{name}?ref=7.0")
    page.get_by_label("Target repository").select_option("test")
    page.get_by_label("New tag (optional)").fill("7.0-rc1")
    page.get_by_label("Properties to set").fill("qa.ticket=QA-7\nqa.ticket=QA-8")
    page.get_by_label("move").check()
    page.get_by_role("button", name="Check gate").click()
    expect(page.get_by_text(f"test/{name}:7.0-rc1")).to_be_visible()
    expect(page.get_by_text("qa.ticket=QA-7,QA-8")).to_be_visible()
    page.get_by_role("button", name="Promote").click()
    expect(page.get_by_role("heading", name="Promoted to test")).to_be_visible()
    page.get_by_role("link", name=f"test/{name}:7.0-rc1").click()
    expect(page.get_by_role("row", name="qa.ticket QA-7, QA-8")).to_be_visible()
    expect(page.locator("tr.lineage-step")).to_contain_text("move")
    # moved: the tag is gone from dev
    page.goto(f"{site.url}/ui/image/dev/{name}?ref=7.0")
    expect(page.get_by_test_id("error-message")).to_contain_text("7.0")
