"""``/v2/<name>/blobs/uploads/``: start (or mount, or push whole), PATCH chunks, PUT to finish,
GET status, DELETE to cancel."""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response

from tidegate.errors import DigestInvalid, TidegateError
from tidegate.http.auth import Requirement
from tidegate.http.v2.context import Ctx
from tidegate.oci.digest import Digest
from tidegate.oci.ranges import parse_content_range
from tidegate.services.blobs import BlobInfo
from tidegate.services.names import ImageRef


def _session_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
        "OCI-Chunk-Min-Length": "0",
    }


def _created(name: str, digest: Digest) -> Response:
    """``name``: the name the client used (a virtual address stays the virtual address, so the
    client keeps using the scope its token covers)."""
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{name}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
        },
    )


async def _mount_source(ctx: Ctx, digest: Digest) -> ImageRef | None:
    """Where a mount may take the blob from: the named ``from`` if the caller may read it,
    otherwise (no ``from``) the first holder the caller may read; None: upload instead."""
    source = ctx.query("from")
    if source:
        if not ctx.may(Requirement("repository", source, "pull", ask_broadly=False)):
            return None  # also a malformed name: may() refuses it
        try:
            return ctx.services.names.resolve(source)
        except TidegateError:
            return None
    holders = await anyio.to_thread.run_sync(ctx.services.blobs.holders, digest)
    gatekeeper = ctx.services.gatekeeper
    return next(
        (
            holder
            for holder in holders
            if gatekeeper.principal_may(
                ctx.caller.principal, Requirement("repository", holder.name, "pull")
            )
        ),
        None,
    )


async def _served_by(ctx: Ctx, source: ImageRef, digest: Digest) -> bool:
    """Whether ``source``'s kind serves the stored blob ``digest`` to the caller."""
    try:
        found = await ctx.services.content.of(source).blob(
            ctx.caller.principal, source, digest, True
        )
    except TidegateError:
        return False
    return isinstance(found, BlobInfo)


async def start_upload(ctx: Ctx) -> Response:
    ref = ctx.push_ref()
    mount = ctx.query("mount")
    if mount:
        try:
            digest = Digest.parse(mount)
        except DigestInvalid:
            digest = None  # a mount that cannot work falls back to an upload, as the spec asks
        source = await _mount_source(ctx, digest) if digest else None
        if digest and source:
            mounted = await anyio.to_thread.run_sync(ctx.services.blobs.mount, ref, digest, source)
            if mounted is None and await _served_by(ctx, source, digest):
                # ``from`` is an address that holds nothing itself (a virtual repository):
                # its kind found the blob in a member the caller may read
                mounted = await anyio.to_thread.run_sync(
                    ctx.services.blobs.link_served, ref, digest
                )
            if mounted is not None:
                return _created(ctx.params["name"], digest)
    digest_text = ctx.query("digest")
    if digest_text is not None:
        digest = Digest.parse(digest_text)
        await ctx.services.uploads.push(ref, digest, ctx.body())
        return _created(ctx.params["name"], digest)
    upload_id = await anyio.to_thread.run_sync(ctx.services.uploads.start, ref)
    return Response(status_code=202, headers=_session_headers(ctx.params["name"], upload_id, 0))


async def patch_upload(ctx: Ctx) -> Response:
    ref = ctx.push_ref()
    upload_id = ctx.params["uuid"]
    content_range = parse_content_range(ctx.request.headers.get("content-range"))
    size = await ctx.services.uploads.append(ref, upload_id, ctx.body(), content_range)
    return Response(status_code=202, headers=_session_headers(ctx.params["name"], upload_id, size))


async def finish_upload(ctx: Ctx) -> Response:
    ref = ctx.push_ref()
    upload_id = ctx.params["uuid"]
    digest_text = ctx.query("digest")
    if not digest_text:
        raise DigestInvalid("the digest query parameter is required to finish an upload")
    digest = Digest.parse(digest_text)
    content_range = parse_content_range(ctx.request.headers.get("content-range"))
    await ctx.services.uploads.finish(ref, upload_id, digest, ctx.body(), content_range)
    return _created(ctx.params["name"], digest)


async def upload_status(ctx: Ctx) -> Response:
    ref = ctx.push_ref()
    upload_id = ctx.params["uuid"]
    size = await anyio.to_thread.run_sync(ctx.services.uploads.status, ref, upload_id)
    return Response(status_code=204, headers=_session_headers(ctx.params["name"], upload_id, size))


async def cancel_upload(ctx: Ctx) -> Response:
    ref = ctx.push_ref()
    upload_id = ctx.params["uuid"]
    await anyio.to_thread.run_sync(ctx.services.uploads.cancel, ref, upload_id)
    return Response(status_code=204)
