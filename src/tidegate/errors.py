"""Domain errors with stable codes.

Owns: the exception hierarchy every layer raises. Imports nothing of ours and knows nothing
of HTTP: the mapping from error class to wire status lives in ``tidegate.http.errors``.
"""

from __future__ import annotations

from typing import Any


class TidegateError(Exception):
    """Base of every domain error. ``code`` is stable; ``message`` is for people."""

    code = "UNKNOWN"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BlobUnknown(TidegateError):
    code = "BLOB_UNKNOWN"


class BlobUploadInvalid(TidegateError):
    code = "BLOB_UPLOAD_INVALID"


class RangeNotSatisfiable(BlobUploadInvalid):
    """A chunk does not start where the upload ends, or a read range is outside the blob."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message, detail={"size": size} if size >= 0 else None)
        self.size = size


class BlobUploadUnknown(TidegateError):
    code = "BLOB_UPLOAD_UNKNOWN"


class DigestInvalid(TidegateError):
    code = "DIGEST_INVALID"


class ManifestBlobUnknown(TidegateError):
    code = "MANIFEST_BLOB_UNKNOWN"


class ManifestInvalid(TidegateError):
    code = "MANIFEST_INVALID"


class ManifestUnknown(TidegateError):
    code = "MANIFEST_UNKNOWN"


class ManifestTooLarge(TidegateError):
    code = "SIZE_INVALID"


class NameInvalid(TidegateError):
    code = "NAME_INVALID"


class NameUnknown(TidegateError):
    code = "NAME_UNKNOWN"


class SizeInvalid(TidegateError):
    code = "SIZE_INVALID"


class Unauthorized(TidegateError):
    """No or wrong credentials."""

    code = "UNAUTHORIZED"


class Denied(TidegateError):
    """Authenticated, but not allowed."""

    code = "DENIED"


class Unsupported(TidegateError):
    code = "UNSUPPORTED"


class TooManyRequests(TidegateError):
    code = "TOOMANYREQUESTS"

    def __init__(self, message: str, detail: Any = None, retry_after: int | None = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after


class UpstreamUnavailable(TidegateError):
    """A remote repository's upstream could not answer (down, slow, rate-limited, or sent
    bytes that do not match their digest) and nothing usable is cached."""

    code = "UPSTREAM_UNAVAILABLE"


class Conflict(TidegateError):
    code = "CONFLICT"


class NotFound(TidegateError):
    code = "NOT_FOUND"


class InvalidRequest(TidegateError):
    code = "INVALID_REQUEST"


class ConfigInvalid(TidegateError):
    code = "CONFIG_INVALID"


class GateRefused(TidegateError):
    """A promotion the target repository's gate refuses: ``failed`` lists the failed
    conditions (``[{"condition", "reason"}]``), ``evaluation`` is the whole evaluation."""

    code = "GATE_REFUSED"

    def __init__(self, message: str, failed: list[Any], evaluation: dict[str, Any]) -> None:
        super().__init__(message, detail={"failed": failed, "evaluation": evaluation})
        self.failed = failed
        self.evaluation = evaluation


class QuotaExceeded(Denied):
    """A push or promotion that would take a repository past its quota (wire code DENIED).
    ``detail``: repository, quota, usage and the bytes the change would add."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message, detail=detail)
