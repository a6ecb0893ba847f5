"""Pages: administration of people — the overview (``/ui/admin``), users, groups and their
members, service accounts and access tokens. Admins only; every call goes to ``/api/v1``.
A new token is shown once, on the page that answers the form post, and never again."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from tidegate.http.ui.client import ApiError
from tidegate.http.ui.formtext import items
from tidegate.http.ui.pages import (
    MAX_DIGITS,
    Ui,
    UiConfig,
    param,
    redirect,
    refusal,
    route_makers,
    seg,
    whole_number,
)

# --- overview ---------------------------------------------------------------------------------


async def overview(ui: Ui) -> Response:
    users = await ui.api.get("/users")
    groups = await ui.api.get("/groups")
    robots = await ui.api.get("/service-accounts")
    targets = await ui.api.get("/permissions")
    repos = await ui.api.get("/repositories")
    hooks = await ui.api.get("/webhooks")
    counts = {
        "users": len(users),
        "groups": len(groups),
        "service_accounts": len(robots),
        "permissions": len(targets),
        "repositories": len(repos),
        "webhooks": len(hooks),
    }
    return ui.render("admin/overview.html", nav="admin", counts=counts)


# --- users ------------------------------------------------------------------------------------


async def show_users(
    ui: Ui, typed: dict[str, Any] | None = None, error: str | None = None, status: int = 200
) -> Response:
    people = await ui.api.get("/users")
    groups = await ui.api.get("/groups")
    return ui.render(
        "admin/users.html",
        status=status,
        nav="admin",
        users=people,
        groups=[g["name"] for g in groups],
        typed=typed or {},
        error=error,
    )


async def users(ui: Ui) -> Response:
    return await show_users(ui)


async def create_user(ui: Ui) -> Response:
    body: dict[str, Any] = {
        "username": ui.field("username"),
        "password": ui.field("password"),
        "groups": ui.fields("groups") + items(ui.field("more_groups")),
        "is_admin": ui.field("is_admin") == "on",
    }
    if ui.field("email"):
        body["email"] = ui.field("email")
    try:
        created = await ui.api.post("/users", body)
    except ApiError as exc:
        typed = {k: v for k, v in body.items() if k != "password"}  # never echoed back
        typed["email"] = ui.field("email")
        return await show_users(ui, {"new": typed}, refusal(exc), exc.status)
    return redirect(ui, "/ui/admin/users", f"user {created['name']} created")


USER_CHANGES: dict[str, tuple[dict[str, bool], str]] = {
    "disable": ({"disabled": True}, "disabled"),
    "enable": ({"disabled": False}, "enabled"),
    "make-admin": ({"is_admin": True}, "is now an administrator"),
    "revoke-admin": ({"is_admin": False}, "is no longer an administrator"),
}


async def change_user(ui: Ui) -> Response:
    name = param(ui, "name")
    change = USER_CHANGES.get(ui.field("change"))
    if change is None:
        return redirect(ui, "/ui/admin/users", "nothing changed: unknown change")
    body, said = change
    await ui.api.patch(f"/users/{seg(name)}", body)
    return redirect(ui, "/ui/admin/users", f"user {name} {said}")


async def set_user_groups(ui: Ui) -> Response:
    name = param(ui, "name")
    try:
        await ui.api.patch(f"/users/{seg(name)}", {"groups": items(ui.field("groups"))})
    except ApiError as exc:
        typed = {"groups_of": name, "groups": ui.field("groups")}
        return await show_users(ui, typed, refusal(exc), exc.status)
    return redirect(ui, "/ui/admin/users", f"groups of {name} changed")


async def set_password(ui: Ui) -> Response:
    name = ui.field("name")
    try:
        await ui.api.patch(f"/users/{seg(name)}", {"password": ui.field("password")})
    except ApiError as exc:
        return await show_users(ui, {"password_of": name}, refusal(exc), exc.status)
    return redirect(ui, "/ui/admin/users", f"password of {name} set")


async def delete_user(ui: Ui) -> Response:
    name = param(ui, "name")
    await ui.api.delete(f"/users/{seg(name)}")
    return redirect(ui, "/ui/admin/users", f"user {name} deleted")


# --- groups -----------------------------------------------------------------------------------


async def show_groups(
    ui: Ui, typed: dict[str, Any] | None = None, error: str | None = None, status: int = 200
) -> Response:
    found = await ui.api.get("/groups")
    return ui.render(
        "admin/groups.html",
        status=status,
        nav="admin",
        groups=found,
        typed=typed or {},
        error=error,
    )


async def groups(ui: Ui) -> Response:
    return await show_groups(ui)


async def create_group(ui: Ui) -> Response:
    body = {
        "name": ui.field("name"),
        "description": ui.field("description") or None,
        "members": items(ui.field("members")),
    }
    try:
        created = await ui.api.post("/groups", body)
    except ApiError as exc:
        typed = {key: ui.field(key) for key in ("name", "description", "members")}
        return await show_groups(ui, {"new": typed}, refusal(exc), exc.status)
    return redirect(ui, "/ui/admin/groups", f"group {created['name']} created")


async def add_member(ui: Ui) -> Response:
    group, member = param(ui, "name"), ui.field("principal")
    if not member:
        return redirect(ui, "/ui/admin/groups", "name a user or service account to add")
    try:
        await ui.api.put(f"/groups/{seg(group)}/members/{seg(member)}")
    except ApiError as exc:
        typed = {"member_of": group, "principal": member}
        # 404: most often the typed name is nobody's; the page says so and keeps it
        return await show_groups(ui, typed, refusal(exc, also=(404,)), exc.status)
    return redirect(ui, "/ui/admin/groups", f"{member} added to {group}")


async def remove_member(ui: Ui) -> Response:
    group, member = param(ui, "name"), param(ui, "principal")
    await ui.api.delete(f"/groups/{seg(group)}/members/{seg(member)}")
    return redirect(ui, "/ui/admin/groups", f"{member} removed from {group}")


async def delete_group(ui: Ui) -> Response:
    group = param(ui, "name")
    await ui.api.delete(f"/groups/{seg(group)}")
    return redirect(ui, "/ui/admin/groups", f"group {group} deleted")


# --- service accounts -------------------------------------------------------------------------


async def show_service_accounts(
    ui: Ui, typed: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    robots = await ui.api.get("/service-accounts")
    return ui.render(
        "admin/service_accounts.html",
        status=status,
        nav="admin",
        accounts=robots,
        typed=typed or {},
        error=error,
    )


async def service_accounts(ui: Ui) -> Response:
    return await show_service_accounts(ui)


async def create_service_account(ui: Ui) -> Response:
    body = {
        "name": ui.field("name"),
        "groups": items(ui.field("groups")),
        "description": ui.field("description") or None,
    }
    try:
        created = await ui.api.post("/service-accounts", body)
    except ApiError as exc:
        typed = {key: ui.field(key) for key in ("name", "groups", "description")}
        return await show_service_accounts(ui, typed, refusal(exc), exc.status)
    return redirect(ui, "/ui/admin/service-accounts", f"service account {created['name']} created")


async def delete_service_account(ui: Ui) -> Response:
    name = param(ui, "name")
    await ui.api.delete(f"/service-accounts/{seg(name)}")
    return redirect(ui, "/ui/admin/service-accounts", f"service account {name} deleted")


# --- tokens -----------------------------------------------------------------------------------


async def tokens(ui: Ui) -> Response:
    return await show_tokens(ui)


async def show_tokens(
    ui: Ui, typed: dict[str, str] | None = None, error: str | None = None, status: int = 200
) -> Response:
    principal = ui.query("principal")
    found = await ui.api.get(
        "/tokens", principal=principal or None, all=None if principal else "true"
    )
    show_revoked = ui.query("revoked") == "1"
    if not show_revoked:
        found = [t for t in found if not t.get("revoked_at")]
    people = [u["name"] for u in await ui.api.get("/users")]
    robots = [s["name"] for s in await ui.api.get("/service-accounts")]
    return ui.render(
        "admin/tokens.html",
        status=status,
        nav="admin",
        tokens=found,
        principal=principal,
        show_revoked=show_revoked,
        principals=robots + people,
        typed=typed or {},
        error=error,
    )


async def create_token(ui: Ui) -> Response:
    body: dict[str, Any] = {"name": ui.field("name"), "principal": ui.field("principal") or None}
    days = ui.field("expires_in_days")
    try:
        if days:
            body["expires_in_days"] = whole_number(
                days, "expires in (days)", maximum=10**MAX_DIGITS - 1
            )
        created = await ui.api.post("/tokens", body)
    except ApiError as exc:
        typed = {key: ui.field(key) for key in ("name", "principal", "expires_in_days")}
        return await show_tokens(ui, typed, refusal(exc), exc.status)
    # the only time the secret is on a page: this answer, never stored, never redirected to
    return ui.render("admin/token_created.html", nav="admin", created=created)


async def revoke_token(ui: Ui) -> Response:
    token_id = param(ui, "token_id")
    await ui.api.delete(f"/tokens/{seg(token_id)}")
    back = ui.field("back")
    target = back if back.startswith("/ui/admin/tokens") else "/ui/admin/tokens"
    return redirect(ui, target, f"token {token_id} revoked")


def routes(config: UiConfig) -> list[BaseRoute]:
    get, post = route_makers(config, admin=True)

    return [
        get("/admin", overview),
        get("/admin/users", users),
        post("/admin/users", create_user),
        post("/admin/users/password", set_password),
        post("/admin/users/{name}/change", change_user),
        post("/admin/users/{name}/groups", set_user_groups),
        post("/admin/users/{name}/delete", delete_user),
        get("/admin/groups", groups),
        post("/admin/groups", create_group),
        post("/admin/groups/{name}/members", add_member),
        post("/admin/groups/{name}/members/{principal}/remove", remove_member),
        post("/admin/groups/{name}/delete", delete_group),
        get("/admin/service-accounts", service_accounts),
        post("/admin/service-accounts", create_service_account),
        post("/admin/service-accounts/{name}/delete", delete_service_account),
        get("/admin/tokens", tokens),
        post("/admin/tokens", create_token),
        post("/admin/tokens/{token_id}/revoke", revoke_token),
    ]
