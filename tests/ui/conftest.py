"""Browser tests of the web UI: a real ``tidegate serve`` and Debian's Chromium, driven by
Playwright (``executable_path=/usr/bin/chromium``; Playwright's own browser downloads are never
used). Screenshots go to ``build/screenshots`` (``TIDEGATE_SCREENSHOTS`` overrides); the best
are copied by hand to docs/screenshots for the README.

The server is shared by a module's tests; each test gets a fresh browser context (no cookies).
People are users of the default groups of PRODUCT.md §3, made through ``/api/v1/users``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.server import RunningServer, tidegate_server

CHROMIUM = os.environ.get("TIDEGATE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("TIDEGATE_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)
# what the machine's closed network needs (docs: a headless Chromium must not phone home)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass(frozen=True)
class Person:
    name: str
    password: str
    group: str | None  # None: the admin


@dataclass
class Site:
    """The running server, its admin API client and the people who use it."""

    server: RunningServer
    admin: Person
    people: dict[str, Person]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def host(self) -> str:
        return self.server.host

    def api(self) -> httpx.Client:
        return self.server.client()

    def person(self, group: str) -> Person:
        return self.people[group]


# Package scope, not session: Playwright's sync API keeps an event loop marked running in this
# thread while it lives, and the anyio tests that run after tests/ui would find it there.
@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: run scripts/system-deps (Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A fresh Tidegate (default configuration) with one user in each default group."""
    data = tmp_path_factory.mktemp("ui") / "data"
    with tidegate_server(data) as server:
        people: dict[str, Person] = {}
        with server.client() as api:
            for group, name in (
                ("developers", "dana"),
                ("testers", "tess"),
                ("operations", "otto"),
            ):
                person = Person(name, secrets.token_urlsafe(12), group)
                api.post(
                    "/api/v1/users",
                    json={"username": name, "password": person.password, "groups": [group]},
                ).raise_for_status()
                people[group] = person
        yield Site(server, Person("admin", server.password, None), people)


def sign_in(page: Page, site: Site, person: Person) -> None:
    """Through the sign-in form, as a person would; lands on the pipeline."""
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("Username").fill(person.name)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/ui/")


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``<name>.png`` in the screenshot folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def clear_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
