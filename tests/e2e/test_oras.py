"""oras-py (PyPI `oras`, the Python SDK; no oras CLI exists here): push and pull files as an OCI
artifact whose subject is an image."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._clients import Skopeo
from ._images import Corpus
from ._oci import sha256_file
from ._regclient import RegistryHTTP
from ._servers import Registry, reference_mode

pytestmark = pytest.mark.e2e

NOTE_TYPE = "application/vnd.tidegate.e2e.note.v1+json"


def _oras_client(registry: Registry, backend: str) -> Any:
    try:
        import oras.client  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - a missing test dependency, not a registry failure
        pytest.fail("PyPI package `oras` is not installed: add oras==0.2.43 to the test deps")
    client = oras.client.OrasClient(
        hostname=registry.host, insecure=True, tls_verify=False, auth_backend=backend
    )
    client.auth.set_basic_auth(registry.username, registry.password)
    return client


@pytest.fixture(params=["token", "basic"])
def oras_backend(request: pytest.FixtureRequest, registry: Registry) -> str:
    """oras-py's auth backend: "token" (its default: Docker token auth, one cached token that it
    reuses for every later request, fetching a new one only after a 403) or "basic"."""
    backend: str = request.param
    challenge = httpx.get(f"{registry.url}/v2/", timeout=10).headers.get("WWW-Authenticate", "")
    if backend == "token" and not challenge.lower().startswith("bearer"):
        pytest.skip(f"registry challenges with {challenge.split(' ')[0]!r}, not Bearer")
    return backend


@pytest.fixture
def oras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """oras-py reads ~/.docker/config.json and wants files relative to the working directory."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("HOME", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_push_file_with_subject_then_pull(
    registry: Registry,
    skopeo: Skopeo,
    api: RegistryHTTP,
    corpus: Corpus,
    ns: str,
    oras_home: Path,
    oras_backend: str,
    tmp_path: Path,
) -> None:
    import oras.oci  # type: ignore[import-untyped]

    name = f"{ns}/app"
    skopeo.copy(corpus.oci("app"), f"docker://{registry.host}/{name}:1.0", "--preserve-digests")
    shutil.copyfile("/usr/share/common-licenses/Apache-2.0", oras_home / "LICENSE")

    pusher = _oras_client(registry, oras_backend)
    response = pusher.push(
        target=f"{registry.host}/{name}:license",
        files=[f"LICENSE:{NOTE_TYPE}"],
        subject=oras.oci.Subject(**corpus.app.descriptor),
        manifest_annotations={"org.opencontainers.image.description": "license of the app"},
        quiet=True,
    )
    assert response.status_code == 201, response.text
    digest = response.headers["Docker-Content-Digest"]
    stored = api.get_manifest(name, "license")
    assert stored.headers["Docker-Content-Digest"] == digest, api.transcript()
    assert stored.json()["subject"]["digest"] == corpus.app.digest

    puller = _oras_client(registry, oras_backend)
    files = puller.pull(target=f"{registry.host}/{name}:license", outdir=str(tmp_path / "out"))
    assert [Path(f).name for f in files] == ["LICENSE"]
    assert sha256_file(Path(files[0])) == sha256_file(oras_home / "LICENSE")

    if not reference_mode():  # distribution 2.8 has no referrers API
        r = api.referrers(name, corpus.app.digest)
        assert r.status_code == 200, api.transcript()
        assert digest in [m["digest"] for m in r.json()["manifests"]], r.json()
