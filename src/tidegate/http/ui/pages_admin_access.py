"""Pages: permission targets (``/ui/admin/permissions``) — list, view, create, edit, delete.
Grants are typed one a line (``group:developers=read,deploy``); the API validates the target
and its message is shown above the form, which keeps what was typed."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from tidegate.http.ui.client import ApiError
from tidegate.http.ui.formtext import FormError, grants_text, items, lines, parse_grants
from tidegate.http.ui.pages import Ui, UiConfig, param, redirect, refusal, route_makers, seg

ACTIONS = ("read", "annotate", "deploy", "overwrite", "delete", "promote", "manage")
EMPTY_FORM = {"name": "", "repositories": "", "include": "**", "exclude": "", "grants": ""}


def form_of(target: dict[str, Any]) -> dict[str, str]:
    """A target as the form's text fields."""
    return {
        "name": target["name"],
        "repositories": lines(target.get("repositories", [])),
        "include": lines(target.get("include", [])),
        "exclude": lines(target.get("exclude", [])),
        "grants": grants_text(target),
    }


def posted_form(ui: Ui) -> dict[str, str]:
    return {key: ui.field(key) for key in EMPTY_FORM}


def body_of(form: dict[str, str]) -> dict[str, Any]:
    """The form as an API target; FormError when the grants cannot be read."""
    return {
        "name": form["name"],
        "repositories": items(form["repositories"]),
        "include": items(form["include"]) or ["**"],
        "exclude": items(form["exclude"]),
        **parse_grants(form["grants"]),
    }


def show_form(
    ui: Ui, form: dict[str, str], *, editing: bool, error: str | None = None, status: int = 200
) -> Response:
    return ui.render(
        "admin/permission_form.html",
        status=status,
        nav="admin",
        form=form,
        editing=editing,
        error=error,
        actions=ACTIONS,
    )


async def targets(ui: Ui) -> Response:
    found = await ui.api.get("/permissions")
    return ui.render("admin/permissions.html", nav="admin", targets=found, grants=grants_text)


async def new_target(ui: Ui) -> Response:
    return show_form(ui, dict(EMPTY_FORM), editing=False)


async def view_target(ui: Ui) -> Response:
    target = await ui.api.get(f"/permissions/{seg(param(ui, 'name'))}")
    return show_form(ui, form_of(target), editing=True)


async def save(ui: Ui, editing: bool) -> Response:
    form = posted_form(ui)
    if editing:
        form["name"] = param(ui, "name")
    try:
        body = body_of(form)
        if editing:
            saved = await ui.api.put(f"/permissions/{seg(form['name'])}", body)
        else:
            saved = await ui.api.post("/permissions", body)
    except FormError as exc:
        return show_form(ui, form, editing=editing, error=str(exc), status=400)
    except ApiError as exc:
        return show_form(ui, form, editing=editing, error=refusal(exc), status=exc.status)
    said = "saved" if editing else "created"
    return redirect(
        ui, f"/ui/admin/permissions/{seg(saved['name'])}", f"target {saved['name']} {said}"
    )


async def create_target(ui: Ui) -> Response:
    return await save(ui, editing=False)


async def update_target(ui: Ui) -> Response:
    return await save(ui, editing=True)


async def delete_target(ui: Ui) -> Response:
    name = param(ui, "name")
    await ui.api.delete(f"/permissions/{seg(name)}")
    return redirect(ui, "/ui/admin/permissions", f"target {name} deleted")


def routes(config: UiConfig) -> list[BaseRoute]:
    get, post = route_makers(config, admin=True)

    return [
        get("/admin/permissions", targets),
        post("/admin/permissions", create_target),
        get("/admin/permissions/new", new_target),
        get("/admin/permissions/{name}", view_target),
        post("/admin/permissions/{name}", update_target),
        post("/admin/permissions/{name}/delete", delete_target),
    ]
