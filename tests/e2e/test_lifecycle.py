"""Scenario 7 of PRODUCT.md §10 end to end with real clients: the seed's accident.

A developer cleans up snapshot images in ``dev`` — images that share layers and digests with
what is in ``prod`` — first with a correct policy, then with a mistyped, over-broad one
(``tags: "*"``, ``keep_last: 0``); nothing in ``prod`` changes, every ``prod`` image still pulls
byte-for-byte with skopeo, and the developer's delete in ``prod`` gets 403.

The registry is a Tidegate of its own with the default configuration (``prod`` is protected,
developers may delete in ``dev`` only). The developer pushes real images with skopeo (built
with buildah: an app sharing its base layer, a multi-arch index, and a snapshot built here on
the same base); admin promotes the releases through ``test`` to ``prod`` over the API (the
gates need ``qa.automated`` and ``qa.uat``); the developer runs the real ``tidegate cleanup``
CLI. Finally the developer restores one snapshot from the trash and it pulls again, exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._clients import Buildah, ContainersEnv, Skopeo
from ._cmd import AUTH_ERROR, describe
from ._images import Corpus
from ._oci import blob_path, sha256_digest
from ._servers import Registry, log_tail, reference_mode, tidegate_executable, tidegate_registry
from .test_access import SCOPE_ERROR, Account, Site

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xfail(
        reference_mode(),
        reason="distribution 2.8 has no users, promotion, cleanup or /api/v1",
        strict=True,
    ),
]

NOT_ALLOWED = 3  # the CLI's exit code for 401/403
SNAPSHOTS = "rules:\n  - tags: '*-SNAPSHOT'\n    keep_last: 0\n"
OVER_BROAD = "rules:\n  - tags: '*'\n    keep_last: 0\nuntagged_older_than: 0s\n"


@pytest.fixture(scope="module")
def reg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    if reference_mode():
        reference: Registry = request.getfixturevalue("registry")
        yield reference
        return
    with tidegate_registry(tmp_path_factory.mktemp("lifecycle")) as running:
        yield running


class People:
    def __init__(self, reg: Registry, cenv: ContainersEnv, work: Path) -> None:
        self.reg = reg
        self.work = work
        self.site = Site(reg, cenv, work)
        self.developer = self.site.user("developers")
        self.operations = self.site.user("operations")
        self.dev_skopeo = self.site.login_skopeo(self.developer, "developer")
        self.ops_skopeo = self.site.login_skopeo(self.operations, "operations")

    def ref(self, name: str) -> str:
        return f"docker://{self.reg.host}/{name}"

    def tidegate(self, who: Account, *args: str) -> subprocess.CompletedProcess[str]:
        home = self.work / f"home-{who.username}"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIDEGATE_")}
        env.update(
            HOME=str(home),
            TIDEGATE_URL=self.reg.url,
            TIDEGATE_USERNAME=who.username,
            TIDEGATE_TOKEN=who.password,
            COLUMNS="200",
        )
        return subprocess.run(
            [str(tidegate_executable()), *args],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )

    def cli_json(self, who: Account, *args: str, code: int = 0) -> Any:
        proc = self.tidegate(who, *args, "--json")
        assert proc.returncode == code, describe(proc) + "\n" + log_tail(self.reg.log, 30)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def promote_to_prod(self, image: str, tag: str) -> None:
        """dev -> test -> prod over the API, with the evidence prod's gate asks for."""
        site = self.site
        for source, target in (("dev", "test"), ("test", "prod")):
            if target == "prod":
                evidence = {"qa.automated": ["passed"], "qa.uat": ["passed"]}
                params = {"repo": "test", "image": image, "reference": tag}
                site.call("PATCH", "/api/v1/properties", 200, params=params, json=evidence)
            body = {"source": source, "target": target, "image": image, "tag": tag}
            site.call("POST", "/api/v1/promotions", 201, json=body)

    def pull_dir(self, skopeo: Skopeo, name: str, into: Path) -> dict[str, bytes]:
        """Pull ``name`` (every platform of an index) with skopeo into a ``dir:`` layout; each
        file's bytes."""
        skopeo.copy(self.ref(name), f"dir:{into}", "--all", "--preserve-digests")
        return {p.name: p.read_bytes() for p in sorted(into.iterdir()) if p.name != "version"}


@pytest.fixture(scope="module")
def people(
    reg: Registry, cenv: ContainersEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[People]:
    p = People(reg, cenv, tmp_path_factory.mktemp("lifecycle-clients"))
    try:
        yield p
    finally:
        p.site.close()


def snapshot_image(buildah: Buildah, corpus: Corpus, work: Path) -> Path:
    """A new snapshot of the app, built on the corpus base (so it shares the base layer with
    what goes to prod); an OCI layout holding it as ``snap``."""
    c = buildah.out("from", f"oci:{corpus.layout}:base")
    note = work / "build.txt"
    note.write_text(f"snapshot build {uuid.uuid4()}\n")
    buildah("copy", c, note, "/app/build.txt")
    buildah("config", "--label", "org.opencontainers.image.title=tidegate-e2e-snapshot", c)
    buildah("commit", "--quiet", "--format", "oci", c, "localhost/tidegate-e2e/snap:1")
    layout = work / "snap-oci"
    buildah("push", "--quiet", "localhost/tidegate-e2e/snap:1", f"oci:{layout}:snap")
    return layout


def refused(proc: subprocess.CompletedProcess[str], what: str) -> None:
    text = describe(proc)
    assert proc.returncode != 0, f"{what}: succeeded\n{text}"
    assert AUTH_ERROR.search(text) or SCOPE_ERROR.search(text), f"{what}: {text}"


def test_7_snapshot_cleanups_in_dev_leave_every_prod_image_byte_exact(
    people: People, corpus: Corpus, buildah: Buildah, tmp_path: Path
) -> None:
    p = people
    dev = p.dev_skopeo
    # --- the developer pushes releases and snapshots that share layers and digests --------
    for src, name in (
        (corpus.oci("app"), "dev/shop/cart:1.4.0"),
        (corpus.oci("app"), "dev/shop/cart:1.4.0-SNAPSHOT"),  # the same digest as the release
        (corpus.oci("multi"), "dev/shop/multi:2.0"),
        (corpus.oci("multi"), "dev/shop/multi:2.0-SNAPSHOT"),
        (corpus.oci("base"), "dev/shop/base:1-SNAPSHOT"),  # its layer is in the app, in prod
    ):
        dev.copy(src, p.ref(name), "--all", "--preserve-digests")
    snap_layout = snapshot_image(buildah, corpus, tmp_path)
    dev.copy(f"oci:{snap_layout}:snap", p.ref("dev/shop/cart:1.5.0-SNAPSHOT"))
    snap_raw = dev.inspect_raw(p.ref("dev/shop/cart:1.5.0-SNAPSHOT"))
    snap = json.loads(snap_raw)
    assert snap["layers"][0]["digest"] == corpus.base.layers[0]  # shares the base layer

    # --- releases go to prod through test; what prod serves now ---------------------------
    p.promote_to_prod("shop/cart", "1.4.0")
    p.promote_to_prod("shop/multi", "2.0")
    prod_images = ("prod/shop/cart:1.4.0", "prod/shop/multi:2.0")
    before = {n: p.pull_dir(p.ops_skopeo, n, tmp_path / f"before-{i}") for i, n in
              enumerate(prod_images)}  # fmt: skip
    assert p.ops_skopeo.raw_digest(p.ref(prod_images[0])) == corpus.app.digest
    assert p.ops_skopeo.raw_digest(p.ref(prod_images[1])) == corpus.multi.digest

    # --- 1. the intended cleanup: snapshot tags in dev ------------------------------------
    rules = tmp_path / "snapshots.yaml"
    rules.write_text(SNAPSHOTS)
    plan = p.cli_json(p.developer, "cleanup", "plan", "dev", "--rules", str(rules))
    items = {(i["image"], i["tag"] or i["digest"]): i for i in plan["items"]}
    assert items[("shop/cart", "1.4.0-SNAPSHOT")]["kind"] == "tag"  # 1.4.0 keeps the digest
    assert items[("shop/multi", "2.0-SNAPSHOT")]["kind"] == "tag"
    base_item = next(i for i in plan["items"] if i["image"] == "shop/base")
    snap_item = next(i for i in plan["items"] if i["tags"] == ["1.5.0-SNAPSHOT"])
    assert (base_item["kind"], base_item["digest"]) == ("manifest", corpus.base.digest)
    # bytes freed never count the base layer: prod (and dev's release) still use it
    base_layer = corpus.base.manifest["layers"][0]["size"]
    assert 0 < base_item["bytes_freed"] < base_layer
    own = snap["layers"][1]["size"] + snap["config"]["size"] + len(snap_raw)
    assert snap_item["bytes_freed"] == own
    result = p.cli_json(p.developer, "cleanup", "apply", plan["id"])
    assert result["refused"] == [] and len(result["applied"]) == len(plan["items"])
    assert sorted(dev.list_tags(p.ref("dev/shop/cart"))) == ["1.4.0"]

    # --- 2. the mistyped, over-broad policy: everything in dev, and a try at prod ---------
    broad = tmp_path / "everything.yaml"
    broad.write_text(OVER_BROAD)
    denied = p.tidegate(p.developer, "cleanup", "plan", "prod", "--rules", str(broad))
    assert denied.returncode == NOT_ALLOWED, describe(denied)
    plan = p.cli_json(p.developer, "cleanup", "plan", "dev", "--rules", str(broad))
    assert {i["image"] for i in plan["items"]} == {"shop/cart", "shop/multi"}
    assert plan["refused"] == []
    p.cli_json(p.developer, "cleanup", "apply", plan["id"])
    for name in ("dev/shop/cart:1.4.0", "dev/shop/multi:2.0"):
        gone = dev(
            "inspect", "--raw", "--tls-verify=false", "--authfile", dev.authfile,
            p.ref(name), check=False,
        )  # fmt: skip
        assert gone.returncode != 0, describe(gone)
    # operations (who may delete in prod) runs the same policy on prod: all kept, protected
    plan = p.cli_json(p.operations, "cleanup", "plan", "prod", "--rules", str(broad))
    assert plan["items"] == [] and len(plan["refused"]) >= 2
    assert all("is protected" in r["reason"] for r in plan["refused"])
    assert p.cli_json(p.operations, "cleanup", "apply", plan["id"])["applied"] == []

    # --- prod is untouched: every image pulls byte for byte -------------------------------
    for i, name in enumerate(prod_images):
        after = p.pull_dir(p.ops_skopeo, name, tmp_path / f"after-{i}")
        assert after == before[name], f"{name} changed"
    for name, image in ((prod_images[0], corpus.app), (prod_images[1], corpus.multi)):
        assert p.ops_skopeo.inspect_raw(p.ref(name)) == image.raw
    pulled = p.pull_dir(p.ops_skopeo, prod_images[0], tmp_path / "layers")
    for digest in corpus.app.layers:
        source = blob_path(corpus.layout, digest).read_bytes()
        assert pulled[digest.split(":", 1)[1]] == source
        assert sha256_digest(source) == digest

    # --- a developer's delete in prod: 403 ------------------------------------------------
    refused(dev("delete", "--tls-verify=false", "--authfile", dev.authfile,
                p.ref(prod_images[0]), check=False), "developer's delete in prod")  # fmt: skip
    assert p.ops_skopeo.raw_digest(p.ref(prod_images[0])) == corpus.app.digest

    # --- the trash: the developer brings the 1.5.0 snapshot back, exactly ------------------
    entries = p.cli_json(p.developer, "trash", "list", "--repo", "dev", "--image", "shop/cart")
    entry = next(e for e in entries if e["tags"] == ["1.5.0-SNAPSHOT"])
    restored = p.cli_json(p.developer, "trash", "restore", str(entry["id"]))
    assert restored["tags_restored"] == ["1.5.0-SNAPSHOT"]
    assert dev.inspect_raw(p.ref("dev/shop/cart:1.5.0-SNAPSHOT")) == snap_raw
    back = p.pull_dir(dev, "dev/shop/cart:1.5.0-SNAPSHOT", tmp_path / "restored")
    for layer in snap["layers"]:
        assert sha256_digest(back[layer["digest"].split(":", 1)[1]]) == layer["digest"]

    # an index comes back after its platform manifests (the error says which entries first)
    entries = p.cli_json(p.developer, "trash", "list", "--repo", "dev", "--image", "shop/multi")
    index = next(
        e for e in entries if e["digest"] == corpus.multi.digest and e["kind"] == "manifest"
    )
    early = p.tidegate(p.developer, "trash", "restore", str(index["id"]))
    assert early.returncode == 5 and "restore those first" in early.stderr, describe(early)
    for child in (corpus.amd64, corpus.arm64):
        entry = next(e for e in entries if e["digest"] == child.digest)
        p.cli_json(p.developer, "trash", "restore", str(entry["id"]))
    assert p.cli_json(p.developer, "trash", "restore", str(index["id"]))["tags_restored"] == ["2.0"]
    assert dev.inspect_raw(p.ref("dev/shop/multi:2.0")) == corpus.multi.raw
    again = p.pull_dir(dev, "dev/shop/multi:2.0", tmp_path / "multi-restored")
    assert again == before["prod/shop/multi:2.0"]  # the same bytes prod serves
