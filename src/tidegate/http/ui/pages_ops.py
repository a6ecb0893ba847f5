"""Pages: the audit log (``/ui/audit``, admins) with filters and a JSON-lines export, and
cleanup (``/ui/cleanup``, everyone signed in; the API shows each person only what they may
read): plans, planning with a repository's policy or inline rules, reviewing a plan item by
item, applying it once, the trash and restoring from it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidegate.http.ui.client import ApiError
from tidegate.http.ui.formtext import FormError, parse_document, pretty_json
from tidegate.http.ui.pages import (
    MAX_DIGITS,
    SECURITY_HEADERS,
    Ui,
    UiConfig,
    action,
    number_param,
    page,
    param,
    redirect,
    refusal,
    seg,
)

AUDIT_FILTERS = ("actor", "repo", "action", "outcome", "since", "until")
PAGE = 100
MAX_LIMIT = 10_000

# --- audit ------------------------------------------------------------------------------------


def audit_filters(ui: Ui) -> dict[str, str]:
    return {name: ui.query(name).strip() for name in AUDIT_FILTERS if ui.query(name).strip()}


def audit_limit(ui: Ui) -> int:
    """``?limit=`` within 1 to MAX_LIMIT (any larger number is MAX_LIMIT); not a number: PAGE."""
    raw = ui.query("limit").strip()
    if not raw.isascii() or not raw.isdigit():
        return PAGE
    return MAX_LIMIT if len(raw) > MAX_DIGITS else max(1, min(int(raw), MAX_LIMIT))


async def audit(ui: Ui) -> Response:
    filters = audit_filters(ui)
    limit = audit_limit(ui)
    error = None
    try:
        events = await ui.api.get("/audit", limit=limit, **filters)
    except ApiError as exc:
        message = refusal(exc)
        events, error = [], message
    more = None
    if len(events) >= limit and limit < MAX_LIMIT:
        more = "/ui/audit?" + urlencode({**filters, "limit": min(limit + PAGE, MAX_LIMIT)})
    return ui.render(
        "ops/audit.html",
        status=400 if error else 200,
        nav="audit",
        events=events,
        filters=filters,
        error=error,
        more=more,
        export="/ui/audit/export?" + urlencode(filters),
        pretty=pretty_json,
    )


async def audit_export(ui: Ui) -> Response:
    body = await ui.api.get_bytes("/audit", format="jsonl", **audit_filters(ui))
    headers = {
        **SECURITY_HEADERS,
        "content-disposition": 'attachment; filename="tidegate-audit.jsonl"',
    }
    return Response(body, media_type="application/x-ndjson", headers=headers)


# --- cleanup plans ----------------------------------------------------------------------------


async def cleanup_page(
    ui: Ui, typed: dict[str, str] | None = None, error: str | None = None
) -> Response:
    repo = ui.query("repo")
    plans = await ui.api.get("/cleanup/plans", repo=repo or None)
    repos = [r["key"] for r in await ui.api.get("/repositories") if r["kind"] == "local"]
    typed = typed or {"repo": repo, "source": "policy", "rules": ""}
    return ui.render(
        "ops/cleanup.html",
        status=400 if error else 200,
        nav="cleanup",
        plans=plans,
        repos=repos,
        repo=repo,
        typed=typed,
        error=error,
    )


async def cleanup(ui: Ui) -> Response:
    return await cleanup_page(ui)


def inline_rules(text: str) -> dict[str, Any]:
    """Inline rules as the plan request takes them: a list of rules, or a mapping with
    ``rules`` and/or ``untagged_older_than``."""
    doc = parse_document(text, "rules")
    if isinstance(doc, list):
        return {"rules": doc}
    if isinstance(doc, dict) and set(doc) <= {"rules", "untagged_older_than"} and doc:
        return dict(doc)
    raise FormError("rules: write a list of rules, or rules: and untagged_older_than:")


async def create_plan(ui: Ui) -> Response:
    typed = {"repo": ui.field("repo"), "source": ui.field("source"), "rules": ui.field("rules")}
    body: dict[str, Any] = {"repo": typed["repo"]}
    try:
        if typed["source"] == "inline":
            body |= inline_rules(typed["rules"])
        plan = await ui.api.post("/cleanup/plans", body)
    except FormError as exc:
        return await cleanup_page(ui, typed, str(exc))
    except ApiError as exc:
        message = refusal(exc, also=(403, 404))
        return await cleanup_page(ui, typed, message)
    return redirect(
        ui, f"/ui/cleanup/plans/{seg(plan['id'])}", f"plan made: {plan['count']} item(s) to delete"
    )


async def plan_detail(ui: Ui) -> Response:
    plan = await ui.api.get(f"/cleanup/plans/{seg(param(ui, 'plan_id'))}")
    return ui.render("ops/plan.html", nav="cleanup", plan=plan)


async def apply_plan(ui: Ui) -> Response:
    plan_id = param(ui, "plan_id")
    result = await ui.api.post(f"/cleanup/plans/{seg(plan_id)}/apply")
    return ui.render("ops/applied.html", nav="cleanup", result=result)


# --- trash ------------------------------------------------------------------------------------


async def trash(ui: Ui) -> Response:
    repo = ui.query("repo")
    entries = await ui.api.get("/trash", repo=repo or None)
    return ui.render("ops/trash.html", nav="cleanup", entries=entries, repo=repo)


async def restore(ui: Ui) -> Response:
    entry_id = number_param(ui, "entry_id", "trash entry")
    done = await ui.api.post(f"/trash/{entry_id}/restore")
    entry = done["entry"]
    said = f"restored {entry['repository']}/{entry['image']}@{entry['digest'][:19]}"
    if done["tags_restored"]:
        said += f" with tags {', '.join(done['tags_restored'])}"
    if done["tags_refused"]:
        said += f"; {len(done['tags_refused'])} tag(s) left as they are (they moved)"
    return redirect(ui, "/ui/cleanup/trash", said)


def routes(config: UiConfig) -> list[BaseRoute]:
    return [
        Route("/audit", page(config, audit, admin=True), methods=["GET"]),
        Route("/audit/export", page(config, audit_export, admin=True), methods=["GET"]),
        Route("/cleanup", page(config, cleanup), methods=["GET"]),
        Route("/cleanup/plans", action(config, create_plan), methods=["POST"]),
        Route("/cleanup/plans/{plan_id}", page(config, plan_detail), methods=["GET"]),
        Route("/cleanup/plans/{plan_id}/apply", action(config, apply_plan), methods=["POST"]),
        Route("/cleanup/trash", page(config, trash), methods=["GET"]),
        Route("/cleanup/trash/{entry_id}/restore", action(config, restore), methods=["POST"]),
    ]
