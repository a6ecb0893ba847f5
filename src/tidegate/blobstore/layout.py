"""The storage layout, drawn once:

    blobs/<algorithm>/<first two hex characters>/<hex>   committed content, immutable
    uploads/<upload id>/data                             bytes of an upload in progress
    uploads/<upload id>/lock                             advisory lock: one appender at a time

A blob path only ever appears by an atomic move of a verified, fsynced upload file, so a
reader never sees a partial blob.
"""

from __future__ import annotations

import re

from tidegate.oci.digest import Digest

_UPLOAD_ID_RE = re.compile(r"^[a-f0-9]{32}$")


def blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def upload_dir(upload_id: str) -> str:
    if not _UPLOAD_ID_RE.fullmatch(upload_id):
        raise ValueError(f"invalid upload id {upload_id!r}")
    return f"uploads/{upload_id}"


def upload_data_path(upload_id: str) -> str:
    return f"{upload_dir(upload_id)}/data"


def upload_lock_path(upload_id: str) -> str:
    return f"{upload_dir(upload_id)}/lock"


def is_upload_id(text: str) -> bool:
    return bool(_UPLOAD_ID_RE.fullmatch(text))
