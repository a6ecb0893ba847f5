"""Listings: ``/v2/<name>/tags/list``, ``/v2/_catalog`` and ``/v2/<name>/referrers/<digest>``."""

from __future__ import annotations

from urllib.parse import urlencode

import anyio.to_thread
from starlette.responses import JSONResponse, Response

from tidegate.errors import InvalidRequest
from tidegate.http.v2.context import Ctx
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest

MAX_PAGE = 10_000


def _page(ctx: Ctx) -> tuple[int | None, str | None]:
    n_text = ctx.query("n")
    n = None
    if n_text is not None:
        if not (n_text.isascii() and n_text.isdigit()) or len(n_text) > 9:
            raise InvalidRequest(
                f"n must be a whole number from 0 to 999999999, not {n_text[:20]!r}"
            )
        n = min(int(n_text), MAX_PAGE)
    return n, ctx.query("last") or None


def _link(path: str, n: int, last: str) -> str:
    return f'<{path}?{urlencode({"n": n, "last": last})}>; rel="next"'


async def list_tags(ctx: Ctx) -> Response:
    ref = ctx.ref()
    n, last = _page(ctx)
    fetch = None if n is None else n + 1
    tags = await ctx.services.content.of(ref).tags(ctx.caller.principal, ref, fetch, last)
    name = ctx.params["name"]  # as the client asked (HOST/nginx stays nginx)
    headers = {}
    if n is not None and len(tags) > n:
        tags = tags[:n]
        if tags:
            headers["Link"] = _link(f"/v2/{name}/tags/list", n, tags[-1])
    return JSONResponse({"name": name, "tags": tags}, headers=headers)


async def catalog(ctx: Ctx) -> Response:
    n, last = _page(ctx)
    fetch = None if n is None else n + 1
    names = await anyio.to_thread.run_sync(
        ctx.services.catalog.list, ctx.caller.principal, fetch, last
    )
    headers = {}
    if n is not None and len(names) > n:
        names = names[:n]
        if names:
            headers["Link"] = _link("/v2/_catalog", n, names[-1])
    return JSONResponse({"repositories": names}, headers=headers)


async def referrers(ctx: Ctx) -> Response:
    ref = ctx.ref()
    subject = Digest.parse(ctx.params["digest"])
    artifact_type = ctx.query("artifactType") or None
    body = await ctx.services.content.of(ref).referrers(
        ctx.caller.principal, ref, subject, artifact_type
    )
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else {}
    return Response(body, media_type=None, headers={**headers, "Content-Type": mt.OCI_INDEX})


async def base(ctx: Ctx) -> Response:
    return JSONResponse({})
