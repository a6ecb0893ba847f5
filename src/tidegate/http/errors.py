"""The one table that maps domain errors to the wire: HTTP status for every error class, and
the OCI error envelope ``{"errors": [{"code", "message", "detail"}]}``."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from tidegate import errors as e

STATUS: dict[type[e.TidegateError], int] = {
    e.BlobUnknown: 404,
    e.BlobUploadInvalid: 400,
    e.RangeNotSatisfiable: 416,
    e.BlobUploadUnknown: 404,
    e.DigestInvalid: 400,
    e.ManifestBlobUnknown: 400,
    e.ManifestInvalid: 400,
    e.ManifestUnknown: 404,
    e.ManifestTooLarge: 413,
    e.NameInvalid: 400,
    e.NameUnknown: 404,
    e.SizeInvalid: 400,
    e.Unauthorized: 401,
    e.Denied: 403,
    e.QuotaExceeded: 403,  # DENIED, naming the quota (docs/lifecycle.md)
    e.Unsupported: 405,
    e.TooManyRequests: 429,
    e.UpstreamUnavailable: 502,
    e.Conflict: 409,
    e.GateRefused: 409,
    e.NotFound: 404,
    e.InvalidRequest: 400,
    e.ConfigInvalid: 400,
    e.TidegateError: 500,
}


class WithHeaders:
    """Mixin for errors raised in ``http`` that need response headers (a challenge, Allow)."""

    headers: dict[str, str]


def status_for(error: e.TidegateError) -> int:
    """The status of the most specific class in the table (looked up along the MRO)."""
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def oci_error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def oci_error_response(
    error: e.TidegateError, headers: dict[str, str] | None = None, head: bool = False
) -> Response:
    status = status_for(error)
    body = oci_error_body(error.code, error.message, error.detail)
    all_headers = {**getattr(error, "headers", {}), **(headers or {})}
    if isinstance(error, e.RangeNotSatisfiable) and error.size >= 0:
        all_headers.setdefault("Content-Range", f"bytes */{error.size}")
    if isinstance(error, e.TooManyRequests) and error.retry_after is not None:
        all_headers.setdefault("Retry-After", str(error.retry_after))
    if head:  # no body, but the length a GET would have sent (RFC 9110)
        all_headers["Content-Length"] = str(len(body))
    return Response(
        b"" if head else body,
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )
