"""Small OCI image-layout helpers (standard library only).

Adapted from the team harness's ocilayout.py: read and write blobs of an OCI layout, tag refs in
its index.json, build an image index or an artifact manifest, verify a pulled layout.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

INDEX_MT = "application/vnd.oci.image.index.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_MT = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST_MT = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY_MT = "application/vnd.oci.empty.v1+json"
REF_ANN = "org.opencontainers.image.ref.name"
MANIFEST_ACCEPT = ", ".join([MANIFEST_MT, INDEX_MT, DOCKER_MANIFEST_MT, DOCKER_LIST_MT])

Json = dict[str, Any]


def canon(obj: Any) -> bytes:
    """Compact JSON encoding: the bytes we hash are the bytes we store and push."""
    return json.dumps(obj, separators=(",", ":")).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algo, hexd = digest.split(":", 1)
    return layout / "blobs" / algo / hexd


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def read_json_blob(layout: Path, digest: str) -> Json:
    data: Json = json.loads(read_blob(layout, digest))
    return data


def init_layout(layout: Path) -> None:
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = layout / "oci-layout"
    if not marker.exists():
        marker.write_text('{"imageLayoutVersion":"1.0.0"}')
    index = layout / "index.json"
    if not index.exists():
        index.write_bytes(canon({"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": []}))


def write_blob(layout: Path, data: bytes) -> str:
    digest = sha256_digest(data)
    path = blob_path(layout, digest)
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
    return digest


def copy_blob(src: Path, dst: Path, digest: str) -> None:
    target = blob_path(dst, digest)
    if not target.exists():
        shutil.copyfile(blob_path(src, digest), target)


def load_index(layout: Path) -> Json:
    data: Json = json.loads((layout / "index.json").read_bytes())
    return data


def resolve(layout: Path, ref: str) -> Json:
    """Descriptor of `ref` (ref.name annotation) in layout/index.json."""
    for desc in load_index(layout).get("manifests", []):
        if (desc.get("annotations") or {}).get(REF_ANN) == ref:
            return dict(desc)
    raise KeyError(f"ref {ref!r} not found in {layout}/index.json")


def tag(layout: Path, ref: str, desc: Json) -> None:
    """Point `ref` at descriptor `desc` in layout/index.json (replacing an older `ref`)."""
    index = load_index(layout)
    keep = [
        d for d in index.get("manifests", []) if (d.get("annotations") or {}).get(REF_ANN) != ref
    ]
    entry = dict(desc)
    entry["annotations"] = {**(entry.get("annotations") or {}), REF_ANN: ref}
    keep.append(entry)
    index["manifests"] = keep
    index.setdefault("mediaType", INDEX_MT)
    tmp = layout / "index.json.tmp"
    tmp.write_bytes(canon(index))
    tmp.rename(layout / "index.json")


def descriptor(desc: Json) -> Json:
    """Only the content-identifying fields of a descriptor."""
    return {"mediaType": desc["mediaType"], "digest": desc["digest"], "size": desc["size"]}


def closure(layout: Path, desc: Json) -> list[tuple[str, Json]]:
    """Every (kind, descriptor) reachable from `desc`, itself first. kind: index|manifest|config|
    layer."""
    mt = desc["mediaType"]
    if mt in (INDEX_MT, DOCKER_LIST_MT):
        out: list[tuple[str, Json]] = [("index", desc)]
        for child in read_json_blob(layout, desc["digest"]).get("manifests", []):
            out += closure(layout, child)
        return out
    out = [("manifest", desc)]
    if mt in (MANIFEST_MT, DOCKER_MANIFEST_MT):
        manifest = read_json_blob(layout, desc["digest"])
        out.append(("config", manifest["config"]))
        out += [("layer", layer) for layer in manifest.get("layers", [])]
    return out


def verify_layout(layout: Path) -> list[str]:
    """Problems in a layout: blobs whose content does not match their name, missing blobs."""
    problems: list[str] = []
    for path in sorted((layout / "blobs" / "sha256").iterdir()):
        got = sha256_file(path)
        if got != "sha256:" + path.name:
            problems.append(f"blob {path.name} has content {got}")
    for desc in load_index(layout).get("manifests", []):
        for kind, d in closure(layout, desc):
            if not blob_path(layout, d["digest"]).exists():
                problems.append(f"missing {kind} blob {d['digest']} ({d['mediaType']})")
    return problems


def write_index(out: Path, ref: str, sources: list[tuple[Path, str]], annotations: Json) -> Json:
    """Build an OCI image index of the manifests `sources` [(layout, ref)], copy their blobs into
    `out`, tag the index as `ref` there; returns the index descriptor."""
    init_layout(out)
    manifests: list[Json] = []
    for layout, sref in sources:
        desc = resolve(layout, sref)
        for _, d in closure(layout, desc):
            copy_blob(layout, out, d["digest"])
        manifest = read_json_blob(layout, desc["digest"])
        config = read_json_blob(layout, manifest["config"]["digest"])
        platform: Json = {"architecture": config["architecture"], "os": config["os"]}
        if config.get("variant"):
            platform["variant"] = config["variant"]
        manifests.append({**descriptor(desc), "platform": platform})
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX_MT,
        "manifests": manifests,
        "annotations": annotations,
    }
    data = canon(index)
    desc = {"mediaType": INDEX_MT, "digest": write_blob(out, data), "size": len(data)}
    tag(out, ref, desc)
    return desc


def write_artifact(
    out: Path,
    ref: str,
    *,
    artifact_type: str,
    payload: bytes,
    payload_media_type: str,
    title: str,
    subject: Json,
    annotations: Json,
) -> Json:
    """Write an image-spec 1.1 artifact manifest (artifactType, empty config, one layer, subject)
    into `out`, tagged `ref`; returns its descriptor (with artifactType)."""
    init_layout(out)
    layer_digest = write_blob(out, payload)
    empty_digest = write_blob(out, b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MT,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MT, "digest": empty_digest, "size": 2, "data": "e30="},
        "layers": [
            {
                "mediaType": payload_media_type,
                "digest": layer_digest,
                "size": len(payload),
                "annotations": {"org.opencontainers.image.title": title},
            }
        ],
        "subject": descriptor(subject),
        "annotations": annotations,
    }
    data = canon(manifest)
    desc = {
        "mediaType": MANIFEST_MT,
        "digest": write_blob(out, data),
        "size": len(data),
        "artifactType": artifact_type,
    }
    tag(out, ref, desc)
    return desc
