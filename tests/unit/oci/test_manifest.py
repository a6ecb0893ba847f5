"""Manifest and index parsing: what the registry reads from a pushed manifest, and what it
refuses (with a reason the pusher can act on)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidegate.errors import ManifestInvalid
from tidegate.oci import mediatypes as mt
from tidegate.oci.digest import Digest
from tidegate.oci.manifest import MAX_MANIFEST_BYTES, ParsedManifest, parse_manifest

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
NONDISTRIBUTABLE = mt.OCI_LAYER_NONDISTRIBUTABLE_PREFIX + "v1.tar+gzip"


def descriptor(label: str, media_type: str, size: int = 10, **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": str(Digest.of(label.encode())),
        "size": size,
        **extra,
    }


def image(media_type: str | None = mt.OCI_MANIFEST, **fields: Any) -> dict[str, Any]:
    config_type = DOCKER_CONFIG if media_type == mt.DOCKER_MANIFEST else OCI_CONFIG
    layer_type = DOCKER_LAYER if media_type == mt.DOCKER_MANIFEST else OCI_LAYER
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "config": descriptor("config", config_type),
        "layers": [descriptor("layer-1", layer_type, 100), descriptor("layer-2", layer_type, 200)],
    }
    if media_type is not None:
        doc["mediaType"] = media_type
    doc.update(fields)
    return doc


def index(media_type: str | None = mt.OCI_INDEX, **fields: Any) -> dict[str, Any]:
    child_type = mt.DOCKER_MANIFEST if media_type == mt.DOCKER_MANIFEST_LIST else mt.OCI_MANIFEST
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "manifests": [
            descriptor("amd64", child_type, platform={"architecture": "amd64", "os": "linux"}),
            descriptor("arm64", child_type, platform={"architecture": "arm64", "os": "linux"}),
        ],
    }
    if media_type is not None:
        doc["mediaType"] = media_type
    doc.update(fields)
    return doc


def parse(doc: Any, content_type: str | None = None) -> ParsedManifest:
    return parse_manifest(json.dumps(doc).encode(), content_type)


def refused(doc: Any, content_type: str | None = None) -> str:
    with pytest.raises(ManifestInvalid) as raised:
        parse(doc, content_type)
    return raised.value.message


# --- accepted kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", [mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
def test_image_manifest(media_type: str) -> None:
    doc = image(media_type)

    parsed = parse(doc, media_type)

    assert parsed.media_type == media_type
    assert not parsed.is_index
    assert parsed.config is not None
    assert str(parsed.config.digest) == doc["config"]["digest"]
    assert [str(d.digest) for d in parsed.layers] == [d["digest"] for d in doc["layers"]]
    assert [d.size for d in parsed.layers] == [100, 200]
    assert parsed.children == ()
    assert parsed.subject is None
    assert [str(d.digest) for d in parsed.required_blobs()] == [
        doc["config"]["digest"],
        *(d["digest"] for d in doc["layers"]),
    ]


@pytest.mark.parametrize("media_type", [mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST])
def test_index(media_type: str) -> None:
    doc = index(media_type)

    parsed = parse(doc, media_type)

    assert parsed.media_type == media_type
    assert parsed.is_index
    assert [str(d.digest) for d in parsed.children] == [d["digest"] for d in doc["manifests"]]
    assert parsed.children[1].platform == {"architecture": "arm64", "os": "linux"}
    assert parsed.config is None
    assert parsed.layers == ()
    assert parsed.required_blobs() == []


@pytest.mark.parametrize(
    ("doc", "expected"),
    [(image(None), mt.OCI_MANIFEST), (index(None), mt.OCI_INDEX)],
    ids=["image", "index"],
)
@pytest.mark.parametrize("content_type", [None, "application/json", mt.OCTET_STREAM])
def test_missing_media_type_is_recognised_by_shape(
    doc: dict[str, Any], expected: str, content_type: str | None
) -> None:
    assert parse(doc, content_type).media_type == expected


def test_missing_media_type_is_taken_from_content_type() -> None:
    parsed = parse(image(None), mt.DOCKER_MANIFEST)

    assert parsed.media_type == mt.DOCKER_MANIFEST


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "application/json",
        f"{mt.OCI_MANIFEST}; charset=utf-8",
        mt.OCI_MANIFEST.upper(),
    ],
)
def test_declared_media_type_with_compatible_content_types(content_type: str | None) -> None:
    assert parse(image(), content_type).media_type == mt.OCI_MANIFEST


def test_byte_order_and_unknown_fields_do_not_matter() -> None:
    doc = {"x-custom": [1, 2], **image(), "annotations": {"org.example.note": "é ✓"}}

    parsed = parse(doc)

    assert parsed.annotations == {"org.example.note": "é ✓"}


# --- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "doc"),
    [
        (mt.DOCKER_MANIFEST, image(mt.OCI_MANIFEST)),
        (mt.OCI_MANIFEST, image(mt.DOCKER_MANIFEST)),
        (mt.OCI_INDEX, image(mt.OCI_MANIFEST)),
        (mt.OCI_MANIFEST, index(mt.OCI_INDEX)),
    ],
)
def test_content_type_must_match_the_declared_media_type(
    content_type: str, doc: dict[str, Any]
) -> None:
    message = refused(doc, content_type)

    assert content_type in message
    assert doc["mediaType"] in message


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        ({"schemaVersion": 1, "name": "app", "tag": "1.0", "fsLayers": []}, None),
        ({"schemaVersion": 1, "name": "app"}, mt.DOCKER_SCHEMA1_SIGNED),
        ({"schemaVersion": 2, "mediaType": mt.DOCKER_SCHEMA1}, None),
        (image(None), mt.DOCKER_SCHEMA1),
        (image(None), mt.DOCKER_SCHEMA1_SIGNED),
    ],
    ids=["schema-version-1", "signed", "declared", "content-type", "content-type-signed"],
)
def test_schema1_is_refused_with_a_message_that_says_so(
    doc: dict[str, Any], content_type: str | None
) -> None:
    message = refused(doc, content_type)

    assert "schema1" in message
    assert "not supported" in message


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"not json", b'{"schemaVersion": 2,}', b"\xff\xfe\x00"],
    ids=["empty", "truncated", "text", "trailing-comma", "not-utf8"],
)
def test_invalid_json_is_refused(body: bytes) -> None:
    with pytest.raises(ManifestInvalid, match="not valid JSON"):
        parse_manifest(body, mt.OCI_MANIFEST)


@pytest.mark.parametrize("doc", [[], "manifest", 2, None, [image()]])
def test_a_manifest_must_be_an_object(doc: Any) -> None:
    assert "must be a JSON object" in refused(doc, mt.OCI_MANIFEST)


def test_too_large_manifest_is_refused() -> None:
    doc = image(annotations={"padding": "x" * MAX_MANIFEST_BYTES})

    assert f"larger than {MAX_MANIFEST_BYTES} bytes" in refused(doc)


@pytest.mark.parametrize("version", [None, 3, "2"], ids=["missing", "three", "string"])
def test_schema_version_must_be_2(version: Any) -> None:
    doc = image()
    if version is None:
        del doc["schemaVersion"]
    else:
        doc["schemaVersion"] = version

    assert "schemaVersion must be the integer 2" in refused(doc)


@pytest.mark.parametrize(
    ("doc", "content_type"),
    [
        (image(OCI_CONFIG), None),
        (image("text/plain"), None),
        ({"schemaVersion": 2}, None),
        ({"schemaVersion": 2, "layers": []}, "application/json"),
    ],
    ids=["config-type", "text", "empty", "no-shape"],
)
def test_unsupported_media_type_is_refused(doc: dict[str, Any], content_type: str | None) -> None:
    message = refused(doc, content_type)

    assert "unsupported manifest media type" in message
    assert mt.OCI_MANIFEST in message  # says what is accepted


def test_media_type_must_be_a_string() -> None:
    assert "mediaType must be a string" in refused(image(7))  # type: ignore[arg-type]


def test_image_manifest_needs_config_and_layers() -> None:
    no_config = image()
    del no_config["config"]
    no_layers = image()
    del no_layers["layers"]

    assert "needs a 'config' descriptor" in refused(no_config)
    assert "needs a 'layers' list" in refused(no_layers)


def test_index_needs_manifests() -> None:
    doc = index()
    del doc["manifests"]

    assert "needs a 'manifests' list" in refused(doc)


def _with(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("config",), "sha256:abc", "config must be a JSON object"),
        (("layers",), {"not": "a list"}, "layers must be a list of descriptors"),
        (("layers", 1), 42, "layers[1] must be a JSON object"),
        (("layers", 0, "mediaType"), "", "layers[0].mediaType must be a non-empty string"),
        (("layers", 0, "mediaType"), None, "layers[0].mediaType must be a non-empty string"),
        (("layers", 0, "digest"), None, "layers[0].digest must be a string"),
        (("layers", 0, "digest"), "sha256:abc", "layers[0].digest: invalid digest"),
        (("layers", 0, "digest"), "md5:" + "0" * 32, "layers[0].digest: unsupported digest"),
        (("layers", 0, "size"), -1, "layers[0].size must be a non-negative integer"),
        (("layers", 0, "size"), "10", "layers[0].size must be a non-negative integer"),
        (("layers", 0, "size"), 1.5, "layers[0].size must be a non-negative integer"),
        (("layers", 0, "size"), True, "layers[0].size must be a non-negative integer"),
        (("config", "size"), None, "config.size must be a non-negative integer"),
        (("subject",), [], "subject must be a JSON object"),
        (("subject",), {"mediaType": mt.OCI_MANIFEST}, "subject.digest must be a string"),
        (("artifactType",), 5, "artifactType must be a string"),
        (("annotations",), ["a"], "annotations must be an object"),
    ],
)
def test_bad_descriptors_and_fields_are_refused(
    path: tuple[Any, ...], value: Any, reason: str
) -> None:
    assert reason in refused(_with(image(), path, value))


def test_bad_index_entry_is_refused() -> None:
    doc = _with(index(), ("manifests", 1, "digest"), "sha256:short")

    assert "manifests[1].digest: invalid digest" in refused(doc)


# --- what the registry reads -----------------------------------------------------------------


def test_required_blobs_skip_non_distributable_and_foreign_layers() -> None:
    doc = image(
        layers=[
            descriptor("base", OCI_LAYER),
            descriptor("windows", mt.DOCKER_FOREIGN_LAYER, urls=["https://example.com/l"]),
            descriptor("restricted", NONDISTRIBUTABLE),
            descriptor("app", OCI_LAYER),
        ]
    )

    parsed = parse(doc)

    assert len(parsed.layers) == 4
    assert [str(d.digest) for d in parsed.required_blobs()] == [
        doc["config"]["digest"],
        doc["layers"][0]["digest"],
        doc["layers"][3]["digest"],
    ]


def test_referrer_artifact_type_prefers_artifact_type() -> None:
    parsed = parse(image(artifactType="application/vnd.example.sbom"))

    assert parsed.artifact_type == "application/vnd.example.sbom"
    assert parsed.referrer_artifact_type() == "application/vnd.example.sbom"


def test_referrer_artifact_type_falls_back_to_config_media_type() -> None:
    doc = image(config=descriptor("sig", "application/vnd.example.signature.v1+json"))

    parsed = parse(doc)

    assert parsed.artifact_type is None
    assert parsed.referrer_artifact_type() == "application/vnd.example.signature.v1+json"


def test_index_without_artifact_type_has_no_referrer_artifact_type() -> None:
    assert parse(index()).referrer_artifact_type() is None
    assert parse(index(artifactType="application/x.bundle")).referrer_artifact_type() == (
        "application/x.bundle"
    )


def test_subject_is_parsed() -> None:
    subject = descriptor("the image", mt.OCI_MANIFEST, 1234)
    artifact = image(
        artifactType="application/vnd.example.sbom",
        config=descriptor("empty", mt.OCI_EMPTY, 2),
        subject=subject,
    )

    parsed = parse(artifact)

    assert parsed.subject is not None
    assert str(parsed.subject.digest) == subject["digest"]
    assert parsed.subject.media_type == mt.OCI_MANIFEST
    assert parsed.subject.size == 1234
    assert parse(index(subject=subject)).subject == parsed.subject
    assert parse(image(subject=None)).subject is None
