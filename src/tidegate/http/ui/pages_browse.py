"""Pages: the pipeline (home), repositories, images, promotion, properties, search.

Owns the routes of docs/ui.md "Browsing, pipeline, promotion" and the API calls behind them:
``/api/v1`` (repositories, search, properties, promotions and their gate preview,
me/permissions) and ``/v2`` (manifests, small config blobs, referrers), always as the
signed-in user. What is computed from the answers lives in ``browse_data``."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tidegate.http.ui.browse_data import (
    MANIFEST_TYPES,
    MAX_CONFIG_BYTES,
    ManifestView,
    arrived,
    bad_request,
    checked_image,
    checked_ref,
    descriptor_size,
    manifest_view,
    next_stage,
    parse_properties,
    pipeline_rows,
    pull_commands,
    stage_repositories,
)
from tidegate.http.ui.client import ApiError
from tidegate.http.ui.pages import Ui, UiConfig, action, page, redirect, whole_number
from tidegate.oci.digest import is_digest
from tidegate.oci.names import REPOSITORY_KEY_MAX, REPOSITORY_KEY_RE

PIPELINE_IMAGES = 20  # images per pipeline page
PIPELINE_TAGS = 1000  # tags read per stage repository
SHOWN_TAGS = 5  # tags shown per stage cell
PAGE_SIZE = 50  # rows per page of the repository, image and search listings


def checked_key(key: str) -> str:
    if len(key) <= REPOSITORY_KEY_MAX and REPOSITORY_KEY_RE.fullmatch(key):
        return key
    raise bad_request(f"{key[:80]!r} is not a repository key")


MAX_PAGE = 100_000


def page_number(ui: Ui) -> int:
    """``?page=`` as 1..``MAX_PAGE``, or a 400 page."""
    raw = ui.query("page", "1").strip() or "1"
    try:
        number = whole_number(raw, "page", maximum=MAX_PAGE)
    except ApiError:
        number = 0
    if number < 1:
        raise bad_request(f"page {raw[:20]!r} is not a page number (1 to {MAX_PAGE})")
    return number


def image_url(key: str, image: str, ref: str | None = None) -> str:
    return f"/ui/image/{key}/{image}" + (f"?ref={quote(ref, safe='')}" if ref else "")


async def preview(ui: Ui, source: str, image: str, ref: str, target: str) -> dict[str, Any]:
    """The gate of ``target`` on ``source/image:ref`` (or ``{"error": message}``)."""
    params = {"source": source, "image": image, "reference": ref, "target": target}
    try:
        answer: dict[str, Any] = await ui.api.get("/promotions/preview", **params)
    except ApiError as exc:
        return {"error": exc.message, "target": target}
    return answer


# ---------------------------------------------------------------------------- pipeline


async def stage_tags(ui: Ui, keys: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tags of the stage repositories (at most ``PIPELINE_TAGS`` each), and the keys of
    those that hold more."""
    items: list[dict[str, Any]] = []
    truncated: list[str] = []
    for key in keys:
        found = await ui.api.get("/search", repo=key, tag="*", limit=PIPELINE_TAGS)
        items.extend(found["items"])
        if found["next"]:
            truncated.append(key)
    return items, truncated


async def pipeline(ui: Ui) -> Response:
    stages = stage_repositories(await ui.api.get("/repositories"))
    keys = [s["key"] for s in stages]
    items, truncated = await stage_tags(ui, keys)
    rows = pipeline_rows(keys, items)
    number = page_number(ui)
    pages = max(1, -(-len(rows) // PIPELINE_IMAGES))
    shown = rows[(number - 1) * PIPELINE_IMAGES : number * PIPELINE_IMAGES]

    async def evaluate(cell: Any, image: str, target: str) -> None:
        cell.preview = await preview(ui, cell.repo, image, cell.newest["tag"], target)

    checks = []  # the gates of a page are evaluated side by side
    for row in shown:
        for cell in row.cells:
            after = next_stage(stages, cell.repo)
            if cell.newest is not None and after is not None:
                checks.append(evaluate(cell, row.image, after["key"]))
    await asyncio.gather(*checks)
    return ui.render(
        "browse/pipeline.html",
        nav="pipeline",
        stages=stages,
        rows=shown,
        total=len(rows),
        number=number,
        pages=pages,
        per_page=PIPELINE_IMAGES,
        shown_tags=SHOWN_TAGS,
        truncated=truncated,
        tag_limit=PIPELINE_TAGS,
        image_url=image_url,
    )


# ---------------------------------------------------------------------------- repositories


async def repositories(ui: Ui) -> Response:
    repos = await ui.api.get("/repositories")
    kinds = {
        kind: [r for r in repos if r["kind"] == kind] for kind in ("local", "remote", "virtual")
    }
    return ui.render("browse/repositories.html", nav="repositories", kinds=kinds)


async def repository(ui: Ui) -> Response:
    key = checked_key(ui.request.path_params["key"])
    repo = await ui.api.get(f"/repositories/{key}")
    cursor = ui.query("cursor")
    found: dict[str, Any] = {"items": [], "next": None}
    if repo["kind"] != "virtual":
        found = await ui.api.get("/search", repo=key, limit=PAGE_SIZE, cursor=cursor)
    return ui.render(
        "browse/repository.html",
        nav="repositories",
        repo=repo,
        items=found["items"],
        next=found["next"],
        cursor=cursor,
        image_url=image_url,
    )


# ---------------------------------------------------------------------------- image


async def newest_ref(ui: Ui, key: str, image: str) -> str:
    """The tag pushed or promoted last (among the first ``PIPELINE_TAGS`` by name, as the
    pipeline reads them); an untagged image's first digest."""
    found = await ui.api.get("/search", repo=key, image=image, limit=PIPELINE_TAGS)
    items = [i for i in found["items"] if i["image"] == image]
    if not items:
        raise ApiError(404, "NAME_UNKNOWN", f"no image {image!r} in {key!r}")
    tagged = sorted((i for i in items if i["tag"]), key=arrived)
    return str(tagged[-1]["tag"]) if tagged else str(items[0]["digest"])


async def config_of(ui: Ui, key: str, image: str, descriptor: dict[str, Any] | None) -> Any:
    """The image's config JSON when it is small (or None)."""
    if not descriptor:
        return None
    size = descriptor_size(descriptor)
    if size is None or size > MAX_CONFIG_BYTES:
        return None
    try:
        _, body = await ui.api.registry(f"{key}/{image}/blobs/{descriptor.get('digest')}")
    except ApiError:
        return None
    return body if isinstance(body, dict) else None


async def referrers_of(ui: Ui, key: str, image: str, digest: str) -> list[dict[str, Any]]:
    try:
        _, body = await ui.api.registry(f"{key}/{image}/referrers/{digest}")
    except ApiError:
        return []
    manifests = body.get("manifests") if isinstance(body, dict) else None
    return [m for m in manifests if isinstance(m, dict)] if isinstance(manifests, list) else []


async def promote_targets(ui: Ui, repos: list[dict[str, Any]], key: str, image: str) -> list[str]:
    """Local repositories (other than ``key``) into which the user may promote ``image``."""
    targets = []
    for repo in repos:
        if repo["kind"] != "local" or repo["key"] == key:
            continue
        mine = await ui.api.get("/me/permissions", repo=repo["key"], image=image)
        if "promote" in mine["actions"]:
            targets.append(repo["key"])
    return targets


async def manifest_at(ui: Ui, key: str, image: str, ref: str) -> ManifestView:
    headers, body = await ui.api.registry(f"{key}/{image}/manifests/{ref}", accept=MANIFEST_TYPES)
    digest = headers.get("docker-content-digest", ref)
    return manifest_view(digest, headers.get("content-type", ""), body)


async def about_image(
    ui: Ui, repo: dict[str, Any], image: str, view: ManifestView
) -> dict[str, Any]:
    """What the image page shows of the manifest: config, tags, properties (only a local
    repository has them: a remote one's cache has none), referrers, lineage."""
    key = repo["key"]
    tags = await ui.api.get("/search", repo=key, image=image, limit=PAGE_SIZE)
    here = [t for t in tags["items"] if t["image"] == image]
    where = {"repo": key, "image": image, "reference": view.digest}
    local = repo["kind"] == "local"
    return {
        "image_config": None if view.is_index else await config_of(ui, key, image, view.config),
        "tags": here,
        "more_tags": tags["next"] is not None,
        "this_tags": [t["tag"] for t in here if t["digest"] == view.digest and t["tag"]],
        "properties": (await ui.api.get("/properties", **where))["properties"] if local else None,
        "referrers": await referrers_of(ui, key, image, view.digest),
        "lineage": await ui.api.get("/promotions", digest=view.digest),
    }


async def what_i_may_do(ui: Ui, repo: dict[str, Any], image: str, digest: str) -> dict[str, Any]:
    """The user's actions on the image, promote targets, and the gate toward the next stage
    (only from a local repository: the API promotes and annotates nothing else)."""
    key = repo["key"]
    if repo["kind"] != "local":
        return {"actions": [], "targets": [], "next_stage": None, "gate": None}
    repos = await ui.api.get("/repositories")
    after = next_stage(stage_repositories(repos), key)
    mine = await ui.api.get("/me/permissions", repo=key, image=image)
    return {
        "actions": mine["actions"],
        "targets": await promote_targets(ui, repos, key, image),
        "next_stage": after["key"] if after else None,
        "gate": await preview(ui, key, image, digest, after["key"]) if after else None,
    }


async def served_by(ui: Ui, repo: dict[str, Any], image: str, ref: str) -> tuple[str, str]:
    """The member of a virtual repository that serves ``image`` (at ``ref``, else anywhere),
    and the reference to show there; a 404 ``ApiError`` when none does."""
    key = repo["key"]
    if ref:
        found = await ui.api.get(f"/repositories/{key}/resolve", image=image, reference=ref)
        if found["served_by"]:
            return str(found["served_by"]), ref
        raise ApiError(404, "MANIFEST_UNKNOWN", f"no member of {key!r} serves {image}:{ref}")
    for member in repo.get("options", {}).get("members") or []:
        try:
            return str(member), await newest_ref(ui, str(member), image)
        except ApiError:
            continue  # not there, or not readable: the next member
    raise ApiError(404, "NAME_UNKNOWN", f"no member of {key!r} holds {image!r}")


async def image_page(ui: Ui) -> Response:
    key = checked_key(ui.request.path_params["key"])
    image = checked_image(ui.request.path_params["image"])
    repo = await ui.api.get(f"/repositories/{key}")
    if repo["kind"] == "virtual":  # it holds nothing itself: show the member's image
        ref = checked_ref(ui.query("ref")) if ui.query("ref") else ""
        member, shown = await served_by(ui, repo, image, ref)
        note = f"{key}/{image}{':' + ref if ref else ''} is served by member {member}."
        return redirect(ui, image_url(member, image, shown), note)
    ref = checked_ref(ui.query("ref")) if ui.query("ref") else await newest_ref(ui, key, image)
    view = await manifest_at(ui, key, image, ref)
    pull_ref = view.digest if is_digest(ref) else ref
    return ui.render(
        "browse/image.html",
        nav="repositories",
        repo=repo,
        image=image,
        ref=ref,
        view=view,
        pulls=pull_commands(ui.registry_host, key, image, pull_ref),
        image_url=image_url,
        **await about_image(ui, repo, image, view),
        **await what_i_may_do(ui, repo, image, view.digest),
    )


# ---------------------------------------------------------------------------- promote


def promotion_body(ui: Ui, key: str, image: str) -> dict[str, Any]:
    """The promotion the form asks for (a tag reference promotes the tag, else the digest)."""
    ref = checked_ref(ui.field("ref"))
    target = checked_key(ui.field("target"))
    mode = ui.field("mode", "copy")
    if mode not in ("copy", "move"):
        raise bad_request("mode must be copy or move")
    body: dict[str, Any] = {
        "source": key,
        "target": target,
        "image": image,
        "mode": mode,
        "properties": parse_properties(ui.field("properties")),
        ("digest" if is_digest(ref) else "tag"): ref,
    }
    if ui.field("target_image"):
        body["target_image"] = checked_image(ui.field("target_image"))
    if ui.field("target_tag"):
        body["target_tag"] = checked_ref(ui.field("target_tag"))
    return body


def as_checked(body: dict[str, Any], checked: str) -> dict[str, Any]:
    """The promotion of the tag only while it still names the digest whose gate the user
    checked: someone may have pushed the tag again between "Check gate" and "Promote". The
    API checks it in the promotion's transaction (409, nothing promoted, when the tag moved);
    the lineage keeps the tag, and a move stays a move of the tag."""
    if not is_digest(checked_ref(checked)):
        raise bad_request(f"{checked[:80]!r} is not a digest")
    return {**body, "digest": checked}


async def promote(ui: Ui) -> Response:
    key = checked_key(ui.request.path_params["key"])
    image = checked_image(ui.request.path_params["image"])
    body = promotion_body(ui, key, image)
    form = {
        name: ui.field(name)
        for name in ("ref", "target", "mode", "target_image", "target_tag", "properties")
    }
    context: dict[str, Any] = {"nav": "repositories", "key": key, "image": image, "form": form}
    if ui.field("step") != "promote":
        record = await ui.api.post("/promotions", {**body, "dry_run": True})
        form["checked"] = str(record["digest"])  # the confirm form promotes what was checked
        return ui.render("browse/promote_check.html", record=record, **context)
    if ui.field("checked") and "tag" in body:
        body = as_checked(body, ui.field("checked"))
    try:
        record = await ui.api.post("/promotions", body)
    except ApiError as exc:
        if exc.code == "CONFLICT" and isinstance(exc.detail, dict) and "expected" in exc.detail:
            message = f"{exc.message}. Check the gate again for what the tag names now."
            raise ApiError(409, exc.code, message, exc.detail) from exc
        if exc.code != "GATE_REFUSED":
            raise
        detail = exc.detail if isinstance(exc.detail, dict) else {}
        return ui.render(
            "browse/promote_refused.html", status=409, error=exc, detail=detail, **context
        )
    return ui.render("browse/promote_done.html", record=record, image_url=image_url, **context)


# ---------------------------------------------------------------------------- properties


async def change_properties(ui: Ui) -> Response:
    key = checked_key(ui.request.path_params["key"])
    image = checked_image(ui.request.path_params["image"])
    digest = checked_ref(ui.field("digest"))
    where = {"repo": key, "image": image, "reference": digest}
    name = ui.field("key")
    if not name:
        raise bad_request("give a property key")
    if ui.field("op") == "remove":
        current = await ui.api.get("/properties", **where)
        if name in current["properties"]:
            await ui.api.delete("/properties", **where, key=name)
            message = f"Removed {name}"
        else:  # nothing to remove (or someone removed it meanwhile): say so, not "Removed"
            message = f"No property {name} on this image: nothing was removed"
    else:
        # added to the key's values in one transaction: a value someone else adds at the same
        # moment is kept too
        value = ui.field("value")
        await ui.api.request("POST", "/properties/values", params=where, json_body={name: [value]})
        message = f"Set {name}={value}"
    return redirect(ui, image_url(key, image, ui.field("ref") or digest), message)


# ---------------------------------------------------------------------------- search


async def search(ui: Ui) -> Response:
    repo = ui.query("repo")
    conditions = [c.strip() for c in ui.query("prop").splitlines() if c.strip()]
    params = {
        "repo": checked_key(repo) if repo else None,
        "image": ui.query("image") or None,
        "tag": ui.query("tag") or None,
        "prop": conditions,
        "cursor": ui.query("cursor") or None,
    }
    found = await ui.api.get("/search", limit=PAGE_SIZE, **params)
    repos = await ui.api.get("/repositories")
    query = {k: ui.query(k) for k in ("repo", "image", "tag", "prop") if ui.query(k)}
    return ui.render(
        "browse/search.html",
        nav="search",
        repos=[r["key"] for r in repos if r["kind"] != "virtual"],
        query=query,
        items=found["items"],
        next=found["next"],
        cursor=ui.query("cursor"),
        image_url=image_url,
    )


def routes(config: UiConfig) -> list[BaseRoute]:
    return [
        Route("/", page(config, pipeline)),
        Route("/repositories", page(config, repositories)),
        Route("/repositories/{key}", page(config, repository)),
        Route("/search", page(config, search)),
        Route("/image/{key}/{image:path}/promote", action(config, promote), methods=["POST"]),
        Route(
            "/image/{key}/{image:path}/properties",
            action(config, change_properties),
            methods=["POST"],
        ),
        Route("/image/{key}/{image:path}", page(config, image_page)),
    ]
