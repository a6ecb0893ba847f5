"""What a ``/v2`` handler receives: the request, its path parameters, the authorised caller and
the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from starlette.requests import Request

from tidegate.errors import BlobUploadInvalid, ManifestTooLarge
from tidegate.http.auth import Caller, Gatekeeper, Requirement
from tidegate.services.blobs import BlobService
from tidegate.services.catalog import CatalogService
from tidegate.services.content import ContentRouter
from tidegate.services.manifests import ManifestService
from tidegate.services.names import ImageRef, NameResolver
from tidegate.services.uploads import UploadService


@dataclass(frozen=True, slots=True)
class Services:
    names: NameResolver
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    catalog: CatalogService
    content: ContentRouter
    gatekeeper: Gatekeeper
    body_idle_timeout: float = 60.0


@dataclass(slots=True)
class Ctx:
    request: Request
    params: dict[str, str]
    caller: Caller
    services: Services

    @property
    def head(self) -> bool:
        return self.request.method == "HEAD"

    def ref(self) -> ImageRef:
        return self.services.names.resolve(self.params["name"])

    def push_ref(self) -> ImageRef:
        """The local repository that receives a write made to this request's name."""
        ref = self.ref()
        return self.services.content.of(ref).push_target(self.caller.principal, ref)

    def query(self, key: str) -> str | None:
        return self.request.query_params.get(key)

    async def body(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; a client that sends nothing for
        ``body_idle_timeout`` seconds is cut off, so a stalled request cannot hold an upload
        (or a worker) forever."""
        stream = self.request.stream().__aiter__()
        while True:
            try:
                with anyio.fail_after(self.services.body_idle_timeout):
                    chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise BlobUploadInvalid(
                    f"no data arrived for {self.services.body_idle_timeout:g} seconds; the request"
                    " was cut off (an upload keeps the complete chunks it received)"
                ) from None
            yield chunk

    async def read_body(self, limit: int) -> bytes:
        """The whole (small) body; ManifestTooLarge past ``limit`` bytes."""
        declared = self.request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ManifestTooLarge(
                f"the body is {declared} bytes; the limit is {limit} bytes (4 MiB)"
            )
        parts: list[bytes] = []
        size = 0
        async for chunk in self.body():
            size += len(chunk)
            if size > limit:
                raise ManifestTooLarge(f"the body is larger than the limit of {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def may(self, requirement: Requirement) -> bool:
        return self.services.gatekeeper.may(self.caller, requirement)
