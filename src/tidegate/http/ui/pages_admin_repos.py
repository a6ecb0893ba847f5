"""Pages: repositories (``/ui/admin/repositories``) — list, create (key, kind, the kind's
settings), edit settings (``PATCH``), the gate (``PUT .../gate``), the retention policy (JSON
or YAML text, validated by the API) and delete. Admins only. A remote's upstream password is
write-only: the form never shows it, an empty field leaves it as it is."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from tidegate.http.ui.client import ApiError
from tidegate.http.ui.formtext import FormError, document_text, items, lines, parse_document
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

KINDS = ("local", "remote", "virtual")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    kind: str  # bool (default/yes/no), text, int, seconds, list, secret
    hint: str = ""


SETTINGS: dict[str, tuple[Setting, ...]] = {
    "local": (
        Setting("allow_push", "bool", "pushes allowed (promotions always arrive)"),
        Setting("immutable_tags", "bool", "a tag, once set, never moves"),
        Setting("protected", "bool", "cleanup never deletes here"),
        Setting("allow_sparse", "bool"),
        Setting("quota", "text", "bytes, or 10GiB; empty: none"),
    ),
    "remote": (
        Setting("upstream", "text", "https://HOST[:PORT]"),
        Setting("upstream_username", "text"),
        Setting("upstream_password", "secret", "write-only; empty keeps the current one"),
        Setting("library_prefix", "bool"),
        Setting("offline", "bool"),
        Setting("allow_sparse", "bool"),
        Setting("tag_ttl", "int", "seconds"),
        Setting("negative_ttl", "int", "seconds"),
        Setting("upstream_timeout", "seconds", "seconds"),
    ),
    "virtual": (
        Setting("members", "list", "one key a line, in resolution order"),
        Setting("default_deploy", "text", "a local member that receives pushes"),
    ),
}


def setting_value(setting: Setting, raw: str) -> Any:
    """A form field as the API takes it; None: not set (the default)."""
    if setting.kind == "bool":
        return {"yes": True, "no": False}.get(raw)
    if setting.kind == "list":
        return items(raw) or None
    if not raw:
        return None
    if setting.kind == "int" or (
        setting.kind == "text" and setting.name == "quota" and raw.isdigit()
    ):
        if not raw.isascii() or not raw.isdigit():
            raise FormError(f"{setting.name}: a whole number (got {raw[:40]!r})")
        try:
            return whole_number(raw, setting.name, maximum=10**MAX_DIGITS - 1)
        except ApiError as exc:
            raise FormError(exc.message) from None
    if setting.kind == "seconds":
        try:
            seconds = float(raw)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds):
            raise FormError(f"{setting.name}: a number of seconds (got {raw[:40]!r})")
        return seconds
    return raw


def settings_body(ui: Ui, kind: str, *, creating: bool) -> dict[str, Any]:
    """The posted settings of ``kind``: creating sends only what was given; editing sends every
    field (empty: back to the default), except an empty password (kept)."""
    body: dict[str, Any] = {"stage": ui.field("stage") or None}
    for setting in SETTINGS[kind]:
        value = setting_value(setting, ui.field(setting.name))
        if setting.kind == "secret" and value is None and not ui.field("clear_password"):
            continue
        if value is not None or not creating:
            body[setting.name] = value
    return body


def form_values(repo: dict[str, Any]) -> dict[str, str]:
    """A repository's options as the settings form shows them (never the password)."""
    values: dict[str, str] = {"stage": repo.get("stage") or ""}
    for setting in SETTINGS[repo["kind"]]:
        current = repo["options"].get(setting.name)
        if setting.kind == "bool":
            values[setting.name] = "" if current is None else ("yes" if current else "no")
        elif setting.kind == "list":
            values[setting.name] = lines(current or [])
        elif setting.kind != "secret":
            values[setting.name] = "" if current is None else str(current)
    return values


# --- list and create --------------------------------------------------------------------------


async def repositories(ui: Ui) -> Response:
    found = await ui.api.get("/repositories")
    return ui.render("admin/repositories.html", nav="admin", repos=found, kinds=KINDS)


def new_form(ui: Ui, kind: str, values: dict[str, str], error: str | None, status: int) -> Response:
    return ui.render(
        "admin/repository_new.html",
        status=status,
        nav="admin",
        kind=kind,
        kinds=KINDS,
        settings=SETTINGS[kind],
        values=values,
        error=error,
    )


async def new_repository(ui: Ui) -> Response:
    kind = ui.query("kind", "local")
    return new_form(ui, kind if kind in KINDS else "local", {}, None, 200)


async def create_repository(ui: Ui) -> Response:
    kind = ui.field("kind")
    if kind not in KINDS:
        return new_form(ui, "local", {}, "kind: local, remote or virtual", 400)
    values = {s.name: ui.field(s.name) for s in SETTINGS[kind] if s.kind != "secret"}
    values |= {"key": ui.field("key"), "stage": ui.field("stage")}
    try:
        body = {"key": ui.field("key"), "kind": kind, **settings_body(ui, kind, creating=True)}
        created = await ui.api.post("/repositories", body)
    except FormError as exc:
        return new_form(ui, kind, values, str(exc), 400)
    except ApiError as exc:
        message = refusal(exc)
        return new_form(ui, kind, values, message, exc.status)
    key = created["key"]
    return redirect(ui, f"/ui/admin/repositories/{seg(key)}", f"repository {key} created")


# --- one repository ---------------------------------------------------------------------------


async def retention_of(ui: Ui, key: str) -> Any:
    try:
        return await ui.api.get(f"/repositories/{seg(key)}/retention")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


async def show_repository(
    ui: Ui, key: str, errors: dict[str, str] | None = None, typed: dict[str, str] | None = None
) -> Response:
    repo = await ui.api.get(f"/repositories/{seg(key)}")
    gate = await ui.api.get(f"/repositories/{seg(key)}/gate") if repo["kind"] == "local" else None
    retention = await retention_of(ui, key) if repo["kind"] == "local" else None
    typed = typed or {}
    errors = errors or {}
    return ui.render(
        "admin/repository.html",
        status=400 if errors else 200,
        nav="admin",
        repo=repo,
        settings=SETTINGS[repo["kind"]],
        values=form_values(repo),
        gate_from=typed.get("from", lines(gate.get("from", [])) if gate else ""),
        gate_require=typed.get("require", lines(gate.get("require", [])) if gate else ""),
        retention=retention,
        retention_text=typed.get("retention", document_text(retention)),
        errors=errors,
    )


async def repository(ui: Ui) -> Response:
    return await show_repository(ui, param(ui, "key"))


async def update_settings(ui: Ui) -> Response:
    key = param(ui, "key")
    try:
        repo = await ui.api.get(f"/repositories/{seg(key)}")
        await ui.api.patch(
            f"/repositories/{seg(key)}", settings_body(ui, repo["kind"], creating=False)
        )
    except FormError as exc:
        return await show_repository(ui, key, {"settings": str(exc)})
    except ApiError as exc:
        message = refusal(exc)
        return await show_repository(ui, key, {"settings": message})
    return redirect(ui, f"/ui/admin/repositories/{seg(key)}", f"settings of {key} saved")


async def update_gate(ui: Ui) -> Response:
    key = param(ui, "key")
    body = {"from": items(ui.field("from")), "require": items(ui.field("require"))}
    try:
        await ui.api.put(f"/repositories/{seg(key)}/gate", body)
    except ApiError as exc:
        message = refusal(exc)
        typed = {"from": ui.field("from"), "require": ui.field("require")}
        return await show_repository(ui, key, {"gate": message}, typed)
    return redirect(ui, f"/ui/admin/repositories/{seg(key)}", f"gate of {key} saved")


async def update_retention(ui: Ui) -> Response:
    key = param(ui, "key")
    text = ui.field("retention")
    try:
        policy = parse_document(text, "retention")
        if not isinstance(policy, dict):
            raise FormError("retention: write a mapping with rules: (and untagged_older_than:)")
        await ui.api.put(f"/repositories/{seg(key)}/retention", policy)
    except FormError as exc:
        return await show_repository(ui, key, {"retention": str(exc)}, {"retention": text})
    except ApiError as exc:
        message = refusal(exc)
        return await show_repository(ui, key, {"retention": message}, {"retention": text})
    return redirect(ui, f"/ui/admin/repositories/{seg(key)}", f"retention policy of {key} saved")


async def delete_retention(ui: Ui) -> Response:
    key = param(ui, "key")
    await ui.api.delete(f"/repositories/{seg(key)}/retention")
    return redirect(ui, f"/ui/admin/repositories/{seg(key)}", f"retention policy of {key} removed")


async def delete_repository(ui: Ui) -> Response:
    key = param(ui, "key")
    if ui.field("force") == "on":
        await ui.api.delete(f"/repositories/{seg(key)}", force="true")
    else:
        await ui.api.delete(f"/repositories/{seg(key)}")
    return redirect(ui, "/ui/admin/repositories", f"repository {key} deleted")


def routes(config: UiConfig) -> list[BaseRoute]:
    get, post = route_makers(config, admin=True)

    return [
        get("/admin/repositories", repositories),
        post("/admin/repositories", create_repository),
        get("/admin/repositories/new", new_repository),
        get("/admin/repositories/{key}", repository),
        post("/admin/repositories/{key}/settings", update_settings),
        post("/admin/repositories/{key}/gate", update_gate),
        post("/admin/repositories/{key}/retention", update_retention),
        post("/admin/repositories/{key}/retention/delete", delete_retention),
        post("/admin/repositories/{key}/delete", delete_repository),
    ]
