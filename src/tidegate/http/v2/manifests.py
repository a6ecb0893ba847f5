"""``/v2/<name>/manifests/<reference>``: GET, HEAD, PUT, DELETE."""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response

from tidegate.http.auth import client_address
from tidegate.http.v2.context import Ctx
from tidegate.oci.manifest import MAX_MANIFEST_BYTES


async def get_manifest(ctx: Ctx) -> Response:
    ref = ctx.ref()
    reference = ctx.params["reference"]
    stored = await ctx.services.content.of(ref).manifest(
        ctx.caller.principal, ref, reference, ctx.head
    )
    return Response(
        b"" if ctx.head else stored.content,
        headers={
            "Content-Type": stored.media_type,
            "Content-Length": str(len(stored.content)),
            "Docker-Content-Digest": stored.digest,
            "ETag": f'"{stored.digest}"',
        },
    )


async def put_manifest(ctx: Ctx) -> Response:
    ref = ctx.push_ref()  # before reading a byte: DENIED beats "too large"
    reference = ctx.params["reference"]
    body = await ctx.read_body(MAX_MANIFEST_BYTES)
    extra_tags = ctx.request.query_params.getlist("tag")
    result = await anyio.to_thread.run_sync(
        ctx.services.manifests.put,
        ref,
        reference,
        body,
        ctx.request.headers.get("content-type"),
        extra_tags,
        ctx.caller.principal,
        client_address(ctx.request),
    )
    response = Response(
        status_code=201,
        headers={
            "Location": f"/v2/{ctx.params['name']}/manifests/{result.digest}",
            "Docker-Content-Digest": str(result.digest),
        },
    )
    if result.subject:
        response.headers["OCI-Subject"] = result.subject
    for tag in extra_tags:
        response.headers.append("OCI-Tag", tag)
    return response


async def delete_manifest(ctx: Ctx) -> Response:
    ref = ctx.ref()
    await anyio.to_thread.run_sync(
        ctx.services.manifests.delete,
        ref,
        ctx.params["reference"],
        ctx.caller.principal,
        client_address(ctx.request),
    )
    return Response(status_code=202)
