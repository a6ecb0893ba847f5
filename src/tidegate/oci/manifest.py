"""Manifest and index parsing and validation (OCI image spec and Docker schema2).

A manifest is kept byte for byte as pushed; this module only reads what the registry needs:
the media type, the blobs and child manifests it references, its subject and artifact type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import DigestInvalid, ManifestInvalid
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    platform: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    def required_blobs(self) -> list[Descriptor]:
        """Blobs the registry must hold before it accepts this manifest."""
        wanted = [self.config] if self.config else []
        wanted += [d for d in self.layers if not mt.is_foreign_layer(d.media_type)]
        return wanted

    def referrer_artifact_type(self) -> str | None:
        """The artifactType the referrers API reports (the spec's fallback to config)."""
        if self.artifact_type:
            return self.artifact_type
        return self.config.media_type if self.config else None


def _descriptor(raw: Any, where: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"{where} must be a JSON object (a descriptor)")
    media_type = raw.get("mediaType")
    digest = raw.get("digest")
    size = raw.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    if not isinstance(digest, str):
        raise ManifestInvalid(f"{where}.digest must be a string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    try:
        parsed = Digest.parse(digest)
    except DigestInvalid as exc:
        raise ManifestInvalid(f"{where}.digest: {exc.message}") from exc
    artifact_type = raw.get("artifactType")
    annotations = raw.get("annotations")
    platform = raw.get("platform")
    return Descriptor(
        media_type=media_type,
        digest=parsed,
        size=size,
        artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        annotations=annotations if isinstance(annotations, dict) else None,
        platform=platform if isinstance(platform, dict) else None,
    )


def _descriptors(raw: Any, where: str) -> tuple[Descriptor, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ManifestInvalid(f"{where} must be a list of descriptors")
    return tuple(_descriptor(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _media_type(doc: dict[str, Any], content_type: str) -> str:
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    version = doc.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestInvalid("schemaVersion must be the integer 2")
    if declared in mt.SCHEMA1 or content_type in mt.SCHEMA1 or version == 1:
        raise ManifestInvalid(
            "Docker schema1 manifests are not supported: push with a current client"
            " (schema2 or OCI)"
        )
    if version != 2:
        raise ManifestInvalid("schemaVersion must be the integer 2")
    if declared and content_type in mt.MANIFESTS and declared != content_type:
        raise ManifestInvalid(
            f"Content-Type {content_type!r} does not match the manifest's mediaType {declared!r}"
        )
    media_type = declared or (content_type if content_type in mt.MANIFESTS else None)
    if media_type is None:
        # OCI allows an absent mediaType; recognise the shape.
        if "manifests" in doc:
            media_type = mt.OCI_INDEX
        elif "config" in doc:
            media_type = mt.OCI_MANIFEST
    if media_type not in mt.MANIFESTS:
        raise ManifestInvalid(
            f"unsupported manifest media type {media_type or content_type!r}: expected one of "
            + ", ".join(sorted(mt.MANIFESTS))
        )
    return media_type


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Parse and validate a pushed manifest; raise ManifestInvalid with the reason."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        doc = json.loads(body.decode("utf-8"))
        # Lone surrogates ("\\ud800") parse but are not text: refuse them here, not in storage.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeError:
        raise ManifestInvalid(
            "manifest is not valid JSON text: it must be UTF-8, without lone surrogate escapes"
        ) from None
    except RecursionError:
        raise ManifestInvalid("manifest JSON is nested too deeply") from None
    except ValueError as exc:
        raise ManifestInvalid(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    media_type = _media_type(doc, mt.content_type_base(content_type))
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ManifestInvalid("annotations must be an object")
    if media_type in mt.INDEXES:
        if "manifests" not in doc:
            raise ManifestInvalid("an index needs a 'manifests' list")
        return ParsedManifest(
            media_type=media_type,
            config=None,
            layers=(),
            children=_descriptors(doc["manifests"], "manifests"),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in doc:
        raise ManifestInvalid("an image manifest needs a 'config' descriptor")
    if "layers" not in doc:
        raise ManifestInvalid("an image manifest needs a 'layers' list")
    return ParsedManifest(
        media_type=media_type,
        config=_descriptor(doc["config"], "config"),
        layers=_descriptors(doc["layers"], "layers"),
        children=(),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )
