"""``/v2/<name>/blobs/uploads/``: start (or mount, or push whole), PATCH chunks, PUT to finish,
GET status, DELETE to cancel."""

from __future__ import annotations

import anyio.to_thread
from starlette.responses import Response

from tidegate.errors import DigestInvalid
from tidegate.http.auth import Requirement
from tidegate.http.v2.context import Ctx
from tidegate.oci.digest import Digest
from tidegate.oci.names import validate_name
from tidegate.oci.ranges import parse_content_range
from tidegate.services.names import ImageRef


def _session_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
        "OCI-Chunk-Min-Length": "0",
    }


def _created(ref: ImageRef, digest: Digest) -> Response:
    return Response(
        status_code=201,
        headers={
            "Location": f"/v2/{ref.name}/blobs/{digest}",
            "Docker-Content-Digest": str(digest),
        },
    )


def _upload_id(ctx: Ctx) -> str:
    return ctx.params["uuid"]  # the service checks its form and that it belongs to the name


async def _mount(ctx: Ctx, ref: ImageRef, digest: Digest) -> Response | None:
    """Link a blob the caller can read elsewhere; None to fall back to an upload session."""
    source = ctx.query("from")
    blobs = ctx.services.blobs
    if source:
        try:
            validate_name(source)
        except Exception:
            return None
        if not ctx.may(Requirement("repository", source, "pull", ask_broadly=False)):
            return None
        try:
            source_ref = ctx.services.names.resolve(source)
        except Exception:
            return None
        size = await anyio.to_thread.run_sync(blobs.mount, ref, digest, source_ref)
    else:
        gatekeeper = ctx.services.gatekeeper
        readable = [
            candidate
            for candidate in await anyio.to_thread.run_sync(blobs.holders, digest)
            if gatekeeper.principal_may(
                ctx.caller.principal, Requirement("repository", candidate.name, "pull")
            )
        ]
        size = None
        for candidate in readable[:1]:
            size = await anyio.to_thread.run_sync(blobs.mount, ref, digest, candidate)
    return _created(ref, digest) if size is not None else None


async def start_upload(ctx: Ctx) -> Response:
    ref = ctx.ref()
    ref.require_push_allowed()
    mount = ctx.query("mount")
    if mount:
        try:
            created = await _mount(ctx, ref, Digest.parse(mount))
        except DigestInvalid:
            created = None
        if created is not None:
            return created
    digest_text = ctx.query("digest")
    if digest_text is not None:
        digest = Digest.parse(digest_text)
        await ctx.services.uploads.push(ref, digest, ctx.body())
        return _created(ref, digest)
    upload_id = await anyio.to_thread.run_sync(ctx.services.uploads.start, ref)
    return Response(status_code=202, headers=_session_headers(ref.name, upload_id, 0))


async def patch_upload(ctx: Ctx) -> Response:
    ref = ctx.ref()
    upload_id = _upload_id(ctx)
    content_range = parse_content_range(ctx.request.headers.get("content-range"))
    size = await ctx.services.uploads.append(ref, upload_id, ctx.body(), content_range)
    return Response(status_code=202, headers=_session_headers(ref.name, upload_id, size))


async def finish_upload(ctx: Ctx) -> Response:
    ref = ctx.ref()
    upload_id = _upload_id(ctx)
    digest_text = ctx.query("digest")
    if not digest_text:
        raise DigestInvalid("the digest query parameter is required to finish an upload")
    digest = Digest.parse(digest_text)
    content_range = parse_content_range(ctx.request.headers.get("content-range"))
    await ctx.services.uploads.finish(ref, upload_id, digest, ctx.body(), content_range)
    return _created(ref, digest)


async def upload_status(ctx: Ctx) -> Response:
    ref = ctx.ref()
    upload_id = _upload_id(ctx)
    size = await anyio.to_thread.run_sync(ctx.services.uploads.status, ref, upload_id)
    return Response(status_code=204, headers=_session_headers(ref.name, upload_id, size))


async def cancel_upload(ctx: Ctx) -> Response:
    ref = ctx.ref()
    upload_id = _upload_id(ctx)
    await anyio.to_thread.run_sync(ctx.services.uploads.cancel, ref, upload_id)
    return Response(status_code=204)
