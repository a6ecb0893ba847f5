"""OCI artifacts with a `subject`: pushed byte for byte, found through the referrers API.

The reference registry (distribution 2.8) has no referrers API: under TIDEGATE_E2E_REFERENCE=1 the
referrers checks are expected to fail (xfail, strict); against Tidegate they must pass.
"""

from __future__ import annotations

import pytest

from ._clients import Skopeo
from ._images import REPORT_TYPE, SBOM_TYPE, Corpus, Image
from ._oci import INDEX_MT, MANIFEST_MT, blob_path
from ._regclient import RegistryHTTP
from ._servers import Registry, reference_mode

pytestmark = pytest.mark.e2e

tidegate_only = pytest.mark.xfail(
    reference_mode(),
    reason="distribution 2.8 has no referrers API (GET /v2/<name>/referrers/<digest> -> 404)",
    strict=True,
)


def _push_artifact(api: RegistryHTTP, corpus: Corpus, name: str, artifact: Image) -> str | None:
    """Upload the artifact's blobs and PUT its manifest by digest, raw; the OCI-Subject header."""
    for digest in [artifact.config_digest, *artifact.layers]:
        api.push_blob(name, blob_path(corpus.layout, digest).read_bytes())
    r = api.put_manifest(name, artifact.digest, artifact.raw, MANIFEST_MT)
    assert r.status_code == 201, f"{r.status_code} {r.text}\n{api.transcript()}"
    assert r.headers.get("Docker-Content-Digest") == artifact.digest
    subject: str | None = r.headers.get("OCI-Subject")
    return subject


@pytest.fixture
def app_with_artifacts(
    registry: Registry, skopeo: Skopeo, api: RegistryHTTP, corpus: Corpus, ns: str
) -> tuple[str, list[str | None]]:
    """`ns`/app:1.0 pushed with skopeo, then an SBOM and a test report that refer to it."""
    name = f"{ns}/app"
    skopeo.copy(corpus.oci("app"), f"docker://{registry.host}/{name}:1.0", "--preserve-digests")
    subjects = [_push_artifact(api, corpus, name, a) for a in (corpus.sbom, corpus.report)]
    return name, subjects


def test_artifact_manifest_is_stored_byte_exact(
    app_with_artifacts: tuple[str, list[str | None]], api: RegistryHTTP, corpus: Corpus
) -> None:
    name, _ = app_with_artifacts
    for artifact in (corpus.sbom, corpus.report):
        r = api.get_manifest(name, artifact.digest)
        assert r.status_code == 200, api.transcript()
        assert r.content == artifact.raw
        assert r.headers["Content-Type"].split(";")[0] == MANIFEST_MT
        assert r.json()["subject"]["digest"] == corpus.app.digest
        assert r.json()["artifactType"] == artifact.manifest["artifactType"]
        blob = api.request(
            "GET", f"/v2/{name}/blobs/{artifact.layers[0]}", scope=api.scope(name, "pull")
        )
        assert blob.status_code == 200, api.transcript()
        assert blob.content == blob_path(corpus.layout, artifact.layers[0]).read_bytes()


@tidegate_only
def test_referrers_api_lists_artifacts(
    app_with_artifacts: tuple[str, list[str | None]], api: RegistryHTTP, corpus: Corpus
) -> None:
    name, subject_headers = app_with_artifacts
    r = api.referrers(name, corpus.app.digest)
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{api.transcript()}"
    assert r.headers["Content-Type"].split(";")[0] == INDEX_MT
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index.get("mediaType") == INDEX_MT
    listed = {m["digest"]: m for m in index["manifests"]}
    for artifact in (corpus.sbom, corpus.report):
        assert artifact.digest in listed, index
        entry = listed[artifact.digest]
        assert entry["mediaType"] == MANIFEST_MT
        assert entry["size"] == artifact.size
        assert entry["artifactType"] == artifact.manifest["artifactType"]
        for key, value in artifact.manifest["annotations"].items():
            assert (entry.get("annotations") or {}).get(key) == value, entry
    # a registry that understands `subject` says so on the push, so clients skip the fallback tag
    assert subject_headers == [corpus.app.digest, corpus.app.digest]


@tidegate_only
def test_referrers_api_filters_by_artifact_type(
    app_with_artifacts: tuple[str, list[str | None]], api: RegistryHTTP, corpus: Corpus
) -> None:
    name, _ = app_with_artifacts
    r = api.referrers(name, corpus.app.digest, artifact_type=SBOM_TYPE)
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{api.transcript()}"
    assert [m["digest"] for m in r.json()["manifests"]] == [corpus.sbom.digest]
    assert "artifactType" in r.headers.get("OCI-Filters-Applied", "")
    r = api.referrers(name, corpus.app.digest, artifact_type=REPORT_TYPE)
    assert [m["digest"] for m in r.json()["manifests"]] == [corpus.report.digest]


@tidegate_only
def test_referrers_of_unreferenced_digest_is_empty_index(
    app_with_artifacts: tuple[str, list[str | None]], api: RegistryHTTP, corpus: Corpus
) -> None:
    name, _ = app_with_artifacts
    r = api.referrers(name, corpus.base.digest)
    assert r.status_code == 200, f"{r.status_code} {r.text}\n{api.transcript()}"
    assert r.json()["manifests"] == []
