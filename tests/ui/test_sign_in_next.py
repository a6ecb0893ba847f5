"""Where signing in leads: only back into the UI, whatever ``next`` says."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.ui.conftest import Site


@pytest.mark.parametrize(
    ("wanted", "lands"),
    [
        ("/ui/search?repo=dev", "/ui/search?repo=dev"),
        ("/ui/..//evil.example", "/ui/"),
        ("/ui/%2e%2e//evil.example", "/ui/"),
        ("/uix", "/ui/"),
        ("//evil.example/ui/", "/ui/"),
        ("https://evil.example/ui/", "/ui/"),
    ],
)
def test_sign_in_goes_back_only_into_the_ui(site: Site, wanted: str, lands: str) -> None:
    dana = site.person("developers")
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=30) as browser:
        form = browser.get("/ui/login", params={"next": wanted})
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce, form.text
        answer = browser.post(
            "/ui/login",
            data={
                "nonce": nonce.group(1),
                "username": dana.name,
                "password": dana.password,
                "next": wanted,
            },
        )
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == lands
