"""Test data for the OCI conformance port: blobs, layers, configs, manifests and the data sets of
the distribution-spec conformance suite (new rewrite, section A.11 of the notes) plus the fixed
data of the old ginkgo suite (section B.1).

Every manifest is serialised exactly once; the bytes kept here are the bytes pushed and the bytes
the registry must serve back.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import secrets
import string
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------- media types
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_ND_TAR = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MT_OCTET = "application/octet-stream"
MT_CONF_V1 = "application/vnd.example.oci.conformance.v1"
MT_CONF_V2 = "application/vnd.example.oci.conformance.v2"

EMPTY_JSON = b"{}"
EMPTY_JSON_SHA256 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

CONFORMANCE_ANNOTATION = "org.opencontainers.conformance"
CONFORMANCE_ANNOTATION_VALUE = "hello conformance test"

ALGORITHMS = ("sha256", "sha512")


# ------------------------------------------------------------------------------------ digests
def digest_of(data: bytes, alg: str = "sha256") -> str:
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def random_digest(alg: str = "sha256") -> str:
    """The digest of random bytes: content that no registry holds."""
    return digest_of(secrets.token_bytes(64), alg)


def random_lower(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def random_base32_lower(n: int) -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(n))


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


# -------------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class Blob:
    data: bytes
    alg: str = "sha256"
    media_type: str = MT_OCTET

    @property
    def digest(self) -> str:
        return digest_of(self.data, self.alg)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, media_type: str | None = None, **extra: Any) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": media_type or self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        desc.update(extra)
        return desc


def random_blob(size: int = 2048, alg: str = "sha256", media_type: str = MT_OCTET) -> Blob:
    return Blob(secrets.token_bytes(size), alg, media_type)


@dataclass(frozen=True)
class Manifest:
    """A serialised manifest or index; ``body`` is what is pushed and must be served back."""

    body: bytes
    alg: str = "sha256"
    content_type: str = ""  # the Content-Type to PUT with; defaults to the mediaType field

    @property
    def doc(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def media_type(self) -> str:
        """The media type the registry must serve: the ``mediaType`` field (an image manifest
        when the field is absent, as the suite assumes)."""
        declared = self.doc.get("mediaType")
        return declared if isinstance(declared, str) else MT_MANIFEST

    @property
    def put_content_type(self) -> str:
        return self.content_type or self.media_type

    @property
    def digest(self) -> str:
        return digest_of(self.body, self.alg)

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def subject(self) -> str | None:
        subject = self.doc.get("subject")
        return subject["digest"] if isinstance(subject, dict) else None

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.doc.get("annotations") or {})

    @property
    def artifact_type(self) -> str:
        """What the referrers API must report: ``artifactType``, else ``config.mediaType`` for
        an image manifest; an index without ``artifactType`` has none (empty)."""
        doc = self.doc
        if doc.get("artifactType"):
            return str(doc["artifactType"])
        if self.media_type == MT_INDEX:
            return ""
        return str(doc.get("config", {}).get("mediaType", ""))

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        desc.update(extra)
        return desc


@dataclass
class DataSet:
    """Content to push, in push order, and what the registry must then report."""

    name: str
    repo_key: str = "dev"
    blobs: list[Blob] = field(default_factory=list)
    manifests: list[Manifest] = field(default_factory=list)  # children first, subjects first
    tags: dict[str, Manifest] = field(default_factory=dict)
    tag_param: bool = False  # tags are pushed with ?tag= on the digest PUT
    unpushed: list[str] = field(default_factory=list)  # digests deliberately never pushed

    def add_blob(self, blob: Blob) -> Blob:
        if all(b.digest != blob.digest for b in self.blobs):
            self.blobs.append(blob)
        return blob

    def add_manifest(self, manifest: Manifest, *tags: str) -> Manifest:
        if all(m.digest != manifest.digest for m in self.manifests):
            self.manifests.append(manifest)
        for tag in tags:
            self.tags[tag] = manifest
        return manifest

    def tags_for(self, manifest: Manifest) -> list[str]:
        return [t for t, m in self.tags.items() if m.digest == manifest.digest]

    @property
    def referrers(self) -> dict[str, list[Manifest]]:
        """subject digest -> the manifests that refer to it."""
        found: dict[str, list[Manifest]] = {}
        for m in self.manifests:
            if m.subject:
                found.setdefault(m.subject, []).append(m)
        return found


# ----------------------------------------------------------------------------- content makers
def tar_layer(index: int, gz: bool = True, alg: str = "sha256") -> tuple[Blob, str]:
    """A tarball holding ``./conformance-<index>.txt``: (the blob, its uncompressed digest)."""
    text = f"conformance test layer {index}: {secrets.token_hex(8)}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"./conformance-{index}.txt")
        info.size = len(text)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(text))
    uncompressed = raw.getvalue()
    diff_id = digest_of(uncompressed, alg)
    if not gz:
        return Blob(uncompressed, alg, MT_LAYER_TAR), diff_id
    packed = gzip.compress(uncompressed, mtime=0)
    return Blob(packed, alg, MT_LAYER_GZIP), diff_id


class Generator:
    """Builds content into a DataSet, with one digest algorithm throughout."""

    def __init__(self, ds: DataSet, alg: str = "sha256") -> None:
        self.ds = ds
        self.alg = alg
        self._layer_no = 0

    # blobs
    def layer(self, gz: bool = True, push: bool = True) -> tuple[Blob, str]:
        self._layer_no += 1
        blob, diff_id = tar_layer(self._layer_no, gz, self.alg)
        if push:
            self.ds.add_blob(blob)
        else:
            self.ds.unpushed.append(blob.digest)
        return blob, diff_id

    def config(
        self,
        diff_ids: list[str],
        platform: tuple[str, str] = ("linux", "amd64"),
        extra: dict[str, Any] | None = None,
    ) -> Blob:
        doc: dict[str, Any] = {
            "author": "OCI Conformance Test",
            "architecture": platform[1],
            "os": platform[0],
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        doc.update(extra or {})
        return self.ds.add_blob(Blob(canonical(doc), self.alg, MT_CONFIG))

    def empty_config(self) -> Blob:
        return self.ds.add_blob(Blob(EMPTY_JSON, self.alg, MT_EMPTY))

    def data_blob(self, media_type: str, size: int = 2048) -> Blob:
        return self.ds.add_blob(random_blob(size, self.alg, media_type))

    # manifests
    def manifest(self, doc: dict[str, Any], *tags: str) -> Manifest:
        return self.ds.add_manifest(Manifest(canonical(doc), self.alg), *tags)

    def image(
        self,
        *tags: str,
        layers: int = 2,
        gz: bool = True,
        platform: tuple[str, str] = ("linux", "amd64"),
        subject: Manifest | None = None,
        artifact_type: str | None = None,
        annotations: dict[str, str] | None = None,
        data_field: bool = False,
        custom_field: bool = False,
        unpushed_layers: int = 0,
    ) -> Manifest:
        made = [self.layer(gz, push=i >= unpushed_layers) for i in range(layers)]
        extra = {f"org.{random_lower(10)}": random_lower(16)} if custom_field else None
        config = self.config([d for _, d in made], platform, extra)
        config_desc = config.descriptor()
        layer_descs = [blob.descriptor() for blob, _ in made]
        if data_field:
            config_desc["data"] = base64.b64encode(config.data).decode()
            for desc, (blob, _) in zip(layer_descs, made, strict=True):
                desc["data"] = base64.b64encode(blob.data).decode()
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_MANIFEST}
        if artifact_type:
            doc["artifactType"] = artifact_type
        doc["config"] = config_desc
        doc["layers"] = layer_descs
        if subject is not None:
            doc["subject"] = subject.descriptor()
        if annotations:
            doc["annotations"] = annotations
        if custom_field:
            doc[f"org.{random_lower(10)}"] = random_lower(16)
        return self.manifest(doc, *tags)

    def artifact(
        self,
        *tags: str,
        artifact_type: str = MT_CONF_V1,
        layer_type: str = MT_CONF_V1,
        subject: Manifest | dict[str, Any] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Manifest:
        config = self.empty_config()
        layer = self.data_blob(layer_type)
        doc: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "artifactType": artifact_type,
            "config": config.descriptor(MT_EMPTY),
            "layers": [layer.descriptor(layer_type)],
        }
        if subject is not None:
            doc["subject"] = subject if isinstance(subject, dict) else subject.descriptor()
        if annotations:
            doc["annotations"] = annotations
        return self.manifest(doc, *tags)

    def index(
        self,
        children: Sequence[tuple[Manifest, tuple[str, str] | None]],
        *tags: str,
        artifact_type: str | None = None,
        subject: Manifest | None = None,
        annotations: dict[str, str] | None = None,
        custom_field: bool = False,
    ) -> Manifest:
        """Child descriptors carry mediaType, digest, size and (when given) the platform."""
        descs = []
        for child, platform in children:
            extra: dict[str, Any] = {}
            if platform is not None:
                extra["platform"] = {"architecture": platform[1], "os": platform[0]}
            descs.append(child.descriptor(**extra))
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": MT_INDEX}
        if artifact_type:
            doc["artifactType"] = artifact_type
        doc["manifests"] = descs
        if subject is not None:
            doc["subject"] = subject.descriptor()
        if annotations:
            doc["annotations"] = annotations
        if custom_field:
            doc[f"org.{random_lower(10)}"] = random_lower(16)
        return self.manifest(doc, *tags)

    def platform_index(self, *tags: str, custom_field: bool = False) -> Manifest:
        """The default index: a linux/amd64 and a linux/arm64 image."""
        children = [(self.image(platform=p, custom_field=custom_field), p) for p in PLATFORMS]
        return self.index(children, *tags, custom_field=custom_field)

    def artifact_index(
        self,
        *tags: str,
        subject: Manifest | None = None,
        annotations: Callable[[], dict[str, str]] | None = None,
    ) -> Manifest:
        """An index of conf.v1 artifacts (one per platform), itself of artifactType conf.v1;
        with ``annotations``, every manifest gets its own (a fresh unique key each)."""
        children = [
            (self.artifact(subject=subject, annotations=annotations() if annotations else None), p)
            for p in PLATFORMS
        ]
        return self.index(
            children,
            *tags,
            artifact_type=MT_CONF_V1,
            subject=subject,
            annotations=annotations() if annotations else None,
        )


PLATFORMS = [("linux", "amd64"), ("linux", "arm64")]


def referrer_annotations() -> dict[str, str]:
    return {
        CONFORMANCE_ANNOTATION: CONFORMANCE_ANNOTATION_VALUE,
        f"org.example.{random_lower(8)}": random_lower(12),
    }


# ---------------------------------------------------------------------------------- data sets
def _image(ds: DataSet) -> None:
    Generator(ds).image("image")


def _image_uncompressed(ds: DataSet) -> None:
    Generator(ds).image("image-uncompressed", gz=False)


def _large_manifest(ds: DataSet) -> None:
    annotations = {f"large-annotation-{i}": "A" * 10_000 for i in range(390)}
    Generator(ds).image("large-manifest", annotations=annotations)


def _index(ds: DataSet) -> None:
    Generator(ds).platform_index("index")


def _nested_index(ds: DataSet) -> None:
    gen = Generator(ds)
    first = gen.platform_index()
    second = gen.platform_index()
    gen.index([(first, None), (second, None)], "index-of-index")


def _empty_index(ds: DataSet) -> None:
    Generator(ds).index([], "index")


def _artifact(ds: DataSet) -> None:
    Generator(ds).artifact("artifact")


def _artifact_without_layers(ds: DataSet) -> None:
    gen = Generator(ds)
    config = gen.empty_config()
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "artifactType": MT_CONF_V1,
        "config": config.descriptor(MT_EMPTY),
        "layers": [config.descriptor(MT_EMPTY)],
    }
    gen.manifest(doc, "artifact-without-layers")


def _artifact_index(ds: DataSet) -> None:
    Generator(ds).artifact_index("artifact-index")


def _artifacts_with_subject(ds: DataSet) -> None:
    gen = Generator(ds)
    subject = gen.image("image")
    gen.image(subject=subject)
    gen.artifact(
        "tagged-artifact1",
        artifact_type=MT_CONF_V1,
        layer_type=MT_CONF_V1,
        subject=subject,
        annotations=referrer_annotations(),
    )
    gen.artifact(
        "tagged-artifact2",
        artifact_type=MT_CONF_V2,
        layer_type=MT_OCTET,
        subject=subject,
        annotations=referrer_annotations(),
    )


def _index_with_subject(ds: DataSet) -> None:
    """The subject is an index tagged "index"; the referrer is an artifact index whose two
    children also refer to it: three referrers."""
    gen = Generator(ds)
    subject = gen.platform_index("index")
    gen.artifact_index("tagged-artifact", subject=subject, annotations=referrer_annotations)


MISSING_SUBJECT = {
    "mediaType": MT_MANIFEST,
    "size": 123,
    "digest": digest_of(b"missing content"),
}


def _missing_subject(ds: DataSet) -> None:
    gen = Generator(ds)
    gen.artifact(
        "tagged-artifact", subject=dict(MISSING_SUBJECT), annotations=referrer_annotations()
    )


def _data_field(ds: DataSet) -> None:
    Generator(ds).image("data-field", data_field=True)


def _non_distributable(ds: DataSet) -> None:
    gen = Generator(ds)
    normal, normal_diff = gen.layer()
    nd_gzip = random_digest()
    nd_tar = random_digest()
    ds.unpushed += [nd_gzip, nd_tar]
    config = gen.config([random_digest(), random_digest(), normal_diff])
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": config.descriptor(),
        "layers": [
            {
                "mediaType": MT_ND_GZIP,
                "digest": nd_gzip,
                "size": 123456,
                "urls": [f"https://store.example.com/blobs/sha256/{nd_gzip.split(':')[1]}"],
            },
            {
                "mediaType": MT_ND_TAR,
                "digest": nd_tar,
                "size": 12345,
                "urls": [f"https://store.example.com/blobs/sha256/{nd_tar.split(':')[1]}"],
            },
            normal.descriptor(),
        ],
    }
    gen.manifest(doc, "non-distributable-image")


def _custom_fields(ds: DataSet) -> None:
    Generator(ds).platform_index("custom-fields", custom_field=True)


def _no_layers(ds: DataSet) -> None:
    Generator(ds).image("no-layers", layers=0)


def _sparse(ds: DataSet) -> None:
    ds.repo_key = "sparse"
    gen = Generator(ds)
    gen.image("sparse-image", unpushed_layers=1)
    present = gen.image(platform=("linux", "amd64"))
    missing_digest = random_digest()
    ds.unpushed.append(missing_digest)
    doc = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            present.descriptor(platform={"architecture": "amd64", "os": "linux"}),
            {
                "mediaType": MT_MANIFEST,
                "digest": missing_digest,
                "size": 1024,
                "platform": {"architecture": "arm64", "os": "linux"},
            },
        ],
    }
    gen.manifest(doc, "sparse-index")


def _sha512(ds: DataSet) -> None:
    Generator(ds, "sha512").platform_index()


def _tag_param(alg: str) -> Callable[[DataSet], None]:
    def build(ds: DataSet) -> None:
        ds.tag_param = True
        gen = Generator(ds, alg)
        top = gen.platform_index(f"tag-param-{alg}")
        for i, manifest in enumerate(ds.manifests):
            ds.tags[f"tag-param-{alg}-{i}"] = manifest
        # keep the top-level tag last in insertion order, like the suite's tag list
        ds.tags[f"tag-param-{alg}"] = ds.tags.pop(f"tag-param-{alg}")
        assert ds.manifests[-1] is top

    return build


# In the suite's order (GenerateData).
BUILDERS: dict[str, Callable[[DataSet], None]] = {
    "image": _image,
    "image-uncompressed": _image_uncompressed,
    "large-manifest": _large_manifest,
    "index": _index,
    "nested-index": _nested_index,
    "empty-index": _empty_index,
    "artifact": _artifact,
    "artifact-index": _artifact_index,
    "artifact-without-layers": _artifact_without_layers,
    "artifacts-with-subject": _artifacts_with_subject,
    "index-with-subject": _index_with_subject,
    "missing-subject": _missing_subject,
    "data-field": _data_field,
    "non-distributable-layers": _non_distributable,
    "custom-fields": _custom_fields,
    "no-layers": _no_layers,
    "sparse": _sparse,
    "sha512": _sha512,
    "tag-param-sha256": _tag_param("sha256"),
    "tag-param-sha512": _tag_param("sha512"),
}

DATASETS = tuple(BUILDERS)


def build_dataset(name: str) -> DataSet:
    ds = DataSet(name)
    BUILDERS[name](ds)
    return ds


def bad_digest_image(alg: str = "sha256") -> tuple[DataSet, Manifest, bytes]:
    """The "bad-digest-image" data: (data set with its blobs, the manifest, the altered bytes
    that no longer match the manifest's digest)."""
    ds = DataSet("bad-digest-image")
    manifest = Generator(ds, alg).image()
    ds.manifests.clear()
    return ds, manifest, manifest.body + b"  "


# ------------------------------------------------------------------------ the old ginkgo data
@dataclass
class LegacyData:
    """setup.go of the old suite: five configs, one layer, five manifests, referrer content."""

    configs: list[Blob]
    layer: Blob
    manifests: list[Manifest]
    empty_layer_manifest: Manifest
    blob_a: Blob
    blob_b: Blob
    dummy_digest: str = digest_of(b"hello world")


def legacy_layer() -> Blob:
    """A small gzip tarball holding ``test.txt`` (the old suite ships one as base64)."""
    text = b"this is a test\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("test.txt")
        info.size = len(text)
        info.mode = 0o644
        info.mtime = 0
        tar.addfile(info, io.BytesIO(text))
    return Blob(gzip.compress(raw.getvalue(), mtime=0), "sha256", MT_LAYER_GZIP)


def _legacy_config() -> Blob:
    doc = {
        "author": random_lower(16),
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    return Blob(json.dumps(doc, indent="\t").encode(), "sha256", MT_CONFIG)


def _legacy_manifest_doc(config: Blob, layer: Blob) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {
            "mediaType": MT_CONFIG,
            "digest": config.digest,
            "size": config.size,
            "data": base64.b64encode(config.data).decode(),
            "newUnspecifiedField": "aGVsbG8gd29ybGQ=",
        },
        "layers": [
            {
                "mediaType": MT_LAYER_GZIP,
                "digest": layer.digest,
                "size": layer.size,
                "newUnspecifiedField": None,
            }
        ],
    }


def legacy_data() -> LegacyData:
    configs = [_legacy_config() for _ in range(5)]
    layer = legacy_layer()
    manifests = [
        Manifest(json.dumps(_legacy_manifest_doc(c, layer), indent="\t").encode()) for c in configs
    ]
    empty_doc = {
        "schemaVersion": 2,
        "config": {"mediaType": MT_CONFIG, "digest": configs[1].digest, "size": configs[1].size},
        "layers": [],
    }
    empty_layer = Manifest(json.dumps(empty_doc, indent="\t").encode(), content_type=MT_MANIFEST)
    return LegacyData(
        configs=configs,
        layer=layer,
        manifests=manifests,
        empty_layer_manifest=empty_layer,
        blob_a=random_blob(42),
        blob_b=random_blob(42),
    )


def chunks_of(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
