"""``/v2/<name>/blobs/<digest>``: GET (with Range), HEAD, DELETE."""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response
from starlette.types import ASGIApp

from tidegate.http.v2.context import Ctx
from tidegate.http.v2.files import BlobResponse, StreamedBlobResponse
from tidegate.oci.digest import Digest
from tidegate.oci.ranges import parse_range
from tidegate.services.content import BlobStream


async def get_blob(ctx: Ctx) -> ASGIApp:
    ref = ctx.ref()
    digest = Digest.parse(ctx.params["digest"])
    found = await ctx.services.content.of(ref).blob(ctx.caller.principal, ref, digest, ctx.head)
    if isinstance(found, BlobStream):
        return StreamedBlobResponse(found, ctx.head)
    byte_range = None if ctx.head else parse_range(ctx.request.headers.get("range"), found.size)
    return BlobResponse(found, ctx.services.blobs, byte_range, ctx.head)


async def delete_blob(ctx: Ctx) -> Response:
    ref = ctx.ref()
    digest = Digest.parse(ctx.params["digest"])
    await anyio.to_thread.run_sync(ctx.services.blobs.delete, ref, digest)
    return Response(status_code=202, headers={"Docker-Content-Digest": str(digest)})
