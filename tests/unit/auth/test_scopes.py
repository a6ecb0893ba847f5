"""Docker token scopes: what a client asks for in ``scope=`` parameters."""

from __future__ import annotations

import pytest

from tidegate.auth.scopes import Scope, parse_scope, parse_scopes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:dev/app:pull", Scope("repository", "dev/app", ("pull",))),
        ("repository:dev/app:push,pull", Scope("repository", "dev/app", ("pull", "push"))),
        ("repository:dev/app:pull,pull,,push", Scope("repository", "dev/app", ("pull", "push"))),
        ("repository:dev/shop/cart:*", Scope("repository", "dev/shop/cart", ("*",))),
        ("repository:dev/app:delete", Scope("repository", "dev/app", ("delete",))),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
        ("repository(plugin):dev/app:pull", Scope("repository", "dev/app", ("pull",))),
        ("repository:host:5000/app:pull", Scope("repository", "host:5000/app", ("pull",))),
        ("repository:dev/app:", Scope("repository", "dev/app", ())),
    ],
)
def test_parse_scope(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "repository", "repository:dev/app", "repository::pull", "user:bob:pull", "pull", ":::"],
)
def test_malformed_scope_is_ignored(text: str) -> None:
    assert parse_scope(text) is None


def test_several_scope_parameters_each_possibly_space_separated() -> None:
    scopes = parse_scopes(
        [
            "repository:dev/app:pull,push",
            "repository:dev/base:pull registry:catalog:*",
            "garbage",
            "  repository:prod/app:pull  ",
            "",
        ]
    )

    assert scopes == [
        Scope("repository", "dev/app", ("pull", "push")),
        Scope("repository", "dev/base", ("pull",)),
        Scope("registry", "catalog", ("*",)),
        Scope("repository", "prod/app", ("pull",)),
    ]
    assert parse_scopes([]) == []


def test_scope_round_trips_through_text_and_claim() -> None:
    scope = Scope("repository", "dev/app", ("pull", "push"))

    assert str(scope) == "repository:dev/app:pull,push"
    assert parse_scope(str(scope)) == scope
    assert scope.as_claim() == {
        "type": "repository",
        "name": "dev/app",
        "actions": ["pull", "push"],
    }
