"""The seed's story end to end (PRODUCT.md §10, scenarios 1-6 and the pull of 8) with real
clients, each step taken by the default group PRODUCT.md §3 gives it.

The registry is a Tidegate started with the default configuration (no config file): ``test``
and ``prod`` take content only by promotion, ``test`` admits images from ``dev``, ``prod`` from
``test`` with ``qa.automated=passed`` and ``qa.uat=passed``, and prod's tags are immutable.
People are users in the default groups (created through ``/api/v1/users``), CI is a service
account in ``ci`` that signs in with its access token; everyone runs the real ``tidegate`` CLI
with ``TIDEGATE_URL``/``TIDEGATE_USERNAME``/``TIDEGATE_TOKEN`` and a private ``HOME``.

1. a developer logs in with podman and pushes a real image to ``HOST/docker/shop/cart:1.4.0``,
   the virtual address; it lands in ``dev`` (docker's ``default_deploy``);
2. CI attaches the build's SBOM to it (an OCI referrer, raw PUT) in ``dev`` and promotes it with
   ``tidegate promote dev/shop/cart:1.4.0 --to test``; the SBOM travels with the image (``test``
   takes nothing but promotions, so a referrer cannot be pushed there). The notification of the
   testers (webhooks, email) is a later issue;
3. CI records ``qa.automated``, ``qa.report`` and ``qa.commit`` with ``tidegate props set``;
4. a tester records ``qa.uat=passed`` with ``tidegate props patch``; the tester's podman pushes
   and skopeo deletes are refused and nothing changes;
5. operations promotes to ``prod``: the gate passes, skopeo sees in prod the digest the developer
   pushed; another digest cannot be promoted onto prod's ``1.4.0`` (immutable);
6. without ``qa.automated=passed`` the promotion is refused with exit code 7 and the failed
   condition, recorded in the lineage and the audit; pushes to prod are refused, admin's too;
8. containerd pulls ``HOST/prod/shop/cart:1.4.0`` with a read-only service account's token
   (the pull through the virtual ``HOST/release/...`` is in test_virtual.py).

And ``tidegate search --prop qa.uat=passed`` shows operations the test and prod copies.

The steps of the story build on each other: each test takes the steps before it (once per
module, whichever test needs them first), so any one of them also runs alone.

The reference registry (TIDEGATE_E2E_REFERENCE=1) has no users, promotion or /api/v1: there
these tests are expected to fail (xfail, strict), like test_access.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ._clients import ContainersEnv, Ctr, Podman, Skopeo, empty_authfile
from ._cmd import AUTH_ERROR, CommandFailed, describe
from ._images import SBOM_TYPE, Corpus, Image
from ._oci import EMPTY_MT, MANIFEST_MT, blob_path, canon, sha256_digest
from ._regclient import RegistryHTTP
from ._servers import Registry, log_tail, reference_mode, tidegate_executable, tidegate_registry
from .test_access import SCOPE_ERROR, Account, Site

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xfail(
        reference_mode(),
        reason="distribution 2.8 has no users, promotion or /api/v1 (POST /api/v1/users -> 404)",
        strict=True,
    ),
]

IMAGE = "shop/cart"
VERSION = "1.4.0"
HOTFIX = "1.4.1"  # another digest, for the immutable tag in prod
CHECKOUT = "shop/checkout"  # the image that never gets its automated tests
CHECKOUT_VERSION = "2.0.0"
QA_REPORT = "https://ci.example.com/shop/cart/pipelines/1842/report.html"
QA_COMMIT = "3f1c2a9e8b7d6c5f4a3b2c1d0e9f8a7b6c5d4e3f"
GATE_REFUSED = 7  # tidegate's exit code when a gate refuses (docs/promotion.md)
NOT_ALLOWED = 3  # 401/403

T = TypeVar("T")
Proc = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def reg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A Tidegate of its own with the default configuration (no config file), stopped by its
    PID; in reference mode, the session's reference registry."""
    if reference_mode():
        reference: Registry = request.getfixturevalue("registry")
        yield reference
        return
    with tidegate_registry(tmp_path_factory.mktemp("pipeline")) as running:
        yield running


@dataclass(frozen=True)
class Person:
    """A principal of the story: its name, what it gives clients as a password (a user's
    password; a service account's access token) and the access token its CLI sends."""

    name: str
    password: str
    token: str

    @property
    def account(self) -> Account:
        return Account(self.name, self.password)


@dataclass
class Pushed:
    """A version the developer pushed: its digest and manifest as the registry serves them."""

    ref: str
    digest: str
    raw: bytes

    @property
    def descriptor(self) -> dict[str, Any]:
        media_type: str = json.loads(self.raw)["mediaType"]
        return {"mediaType": media_type, "digest": self.digest, "size": len(self.raw)}


def assert_refused(proc_or_exc: Proc | BaseException, what: str) -> str:
    """A client failed, and said it was for want of credentials or permission."""
    text = str(proc_or_exc) if isinstance(proc_or_exc, BaseException) else describe(proc_or_exc)
    if isinstance(proc_or_exc, subprocess.CompletedProcess):
        assert proc_or_exc.returncode != 0, f"{what}: succeeded\n{text}"
    assert AUTH_ERROR.search(text) or SCOPE_ERROR.search(text), (
        f"{what}: refused, but not for want of permission:\n{text}"
    )
    return text


class Pipeline:
    """The people of the story, their clients, and the steps of the story (each taken once)."""

    def __init__(self, site: Site, reg: Registry, cenv: ContainersEnv, corpus: Corpus, work: Path):
        self.site = site
        self.reg = reg
        self.host = reg.host
        self.cenv = cenv
        self.corpus = corpus
        self.work = work
        self.developer = self._user("developers")
        self.tester = self._user("testers")
        self.operations = self._user("operations")
        self.ci = self.service_account("ci", ["ci"])
        self._skopeos: dict[str, Skopeo] = {}
        self._done: dict[str, Any] = {}

    # ------------------------------------------------------------------ people
    def _token(self, principal: str) -> str:
        answer = self.site.call(
            "POST", "/api/v1/tokens", 201, json={"name": "pipeline", "principal": principal}
        )
        token: str = answer["token"]
        return token

    def _user(self, group: str) -> Person:
        account = self.site.user(group)
        return Person(account.username, account.password, self._token(account.username))

    def service_account(self, label: str, groups: list[str]) -> Person:
        name = f"e2e-{label}-{uuid.uuid4().hex[:8]}"
        self.site.call(
            "POST", "/api/v1/service-accounts", 201, json={"name": name, "groups": groups}
        )
        token = self._token(name)
        return Person(name, token, token)

    # ------------------------------------------------------------------ clients
    def tidegate(self, who: Person, *args: str) -> Proc:
        """The real CLI as ``who``, as a pipeline runs it: server and token from the
        environment, a HOME of its own, nothing else of ours."""
        home = self.work / f"home-{who.name}"
        home.mkdir(exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TIDEGATE_") and k != "XDG_CONFIG_HOME"
        }
        env.update(
            HOME=str(home),
            TIDEGATE_URL=self.reg.url,
            TIDEGATE_USERNAME=who.name,
            TIDEGATE_TOKEN=who.token,
            COLUMNS="200",
        )
        return subprocess.run(
            [str(tidegate_executable()), *args],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )

    def tidegate_json(self, who: Person, *args: str) -> Any:
        """``tidegate ... --json`` as ``who``, which must succeed; its answer."""
        proc = self.tidegate(who, *args, "--json")
        assert proc.returncode == 0, describe(proc) + "\n--- registry log ---\n" + self.log()
        return json.loads(proc.stdout)

    def skopeo(self, who: Person) -> Skopeo:
        """skopeo logged in as ``who`` (``skopeo login``, its own auth file)."""
        if who.name not in self._skopeos:
            self._skopeos[who.name] = self.site.login_skopeo(who.account, who.name)
        return self._skopeos[who.name]

    def podman_login(self, podman: Podman, who: Person) -> Path:
        authfile = empty_authfile(podman.workdir / f"auth-{who.name}.json")
        podman(
            "login", "--tls-verify=false", "--authfile", authfile,
            "--username", who.name, "--password-stdin", self.host,
            input=who.password + "\n",
        )  # fmt: skip
        return authfile

    def api(self, who: Person) -> httpx.Client:
        """``/api/v1`` as ``who``, with its access token."""
        return httpx.Client(
            base_url=self.reg.url,
            headers={"Authorization": f"Bearer {who.token}"},
            timeout=60,
        )

    def wire(self, who: Person) -> RegistryHTTP:
        """The distribution API as ``who`` (token auth, like the clients)."""
        return RegistryHTTP(self.host, who.name, who.password)

    def log(self) -> str:
        return log_tail(self.reg.log, 30)

    def ref(self, name: str) -> str:
        return f"docker://{self.host}/{name}"

    # ------------------------------------------------------------------ the developer's push
    def podman_push(self, podman: Podman, image: Image, name: str) -> Pushed:
        """The developer pushes a corpus image (built with buildah) with podman to
        ``HOST/<name>``; what the registry then serves under that tag."""
        auth = self.podman_login(podman, self.developer)
        podman("pull", self.corpus.oci(image.ref))
        target = f"{self.host}/{name}"
        podman("tag", image.config_digest.removeprefix("sha256:"), target)
        digestfile = podman.workdir / f"digest-{uuid.uuid4().hex[:8]}"
        podman("push", "--tls-verify=false", "--authfile", auth, "--digestfile", digestfile, target)
        raw = self.site.skopeo.inspect_raw(self.ref(name))
        assert sha256_digest(raw) == digestfile.read_text().strip(), (
            f"the registry serves another manifest under {name} than podman pushed"
        )
        return Pushed(name, sha256_digest(raw), raw)

    # ------------------------------------------------------------------ the story, step by step
    def _once(self, step: str, run: Callable[[], T]) -> T:
        if step not in self._done:
            self._done[step] = run()
        result: T = self._done[step]
        return result

    def pushed(self, podman: Podman) -> Pushed:
        """1. The developer's podman push of shop/cart:1.4.0 through docker (it lands in dev)."""
        return self._once(
            "pushed",
            lambda: self.podman_push(podman, self.corpus.app, f"docker/{IMAGE}:{VERSION}"),
        )

    def sbom(self, podman: Podman) -> str:
        """CI attaches the build's SBOM (a real SPDX document of the image's files) to the dev
        copy; its digest."""

        def attach() -> str:
            subject = self.pushed(podman)
            payload = blob_path(self.corpus.layout, self.corpus.sbom.layers[0]).read_bytes()
            name = f"dev/{IMAGE}"
            with self.wire(self.ci) as wire:
                config = wire.push_blob(name, b"{}")
                layer = wire.push_blob(name, payload)
                raw = canon(
                    {
                        "schemaVersion": 2,
                        "mediaType": MANIFEST_MT,
                        "artifactType": SBOM_TYPE,
                        "config": {"mediaType": EMPTY_MT, "digest": config, "size": 2},
                        "layers": [{"mediaType": SBOM_TYPE, "digest": layer, "size": len(payload)}],
                        "subject": subject.descriptor,
                    }
                )
                digest = sha256_digest(raw)
                r = wire.put_manifest(name, digest, raw, MANIFEST_MT)
                assert r.status_code == 201, f"{r.status_code} {r.text}\n{wire.transcript()}"
                assert r.headers.get("OCI-Subject") == subject.digest, r.headers
            return digest

        return self._once("sbom", attach)

    def in_test(self, podman: Podman) -> dict[str, Any]:
        """2. CI promotes dev -> test (after attaching the SBOM); the promotion record."""

        def promote() -> dict[str, Any]:
            self.sbom(podman)
            record: dict[str, Any] = self.tidegate_json(
                self.ci, "promote", f"dev/{IMAGE}:{VERSION}", "--to", "test"
            )
            return record

        return self._once("in_test", promote)

    def evidence(self, podman: Podman) -> dict[str, Any]:
        """3. CI records the automated tests' results on the test copy; the answer."""

        def record() -> dict[str, Any]:
            self.in_test(podman)
            answer: dict[str, Any] = self.tidegate_json(
                self.ci, "props", "set", f"test/{IMAGE}:{VERSION}",
                "qa.automated=passed", f"qa.report={QA_REPORT}", f"qa.commit={QA_COMMIT}",
            )  # fmt: skip
            return answer

        return self._once("evidence", record)

    def accepted(self, podman: Podman) -> dict[str, Any]:
        """4. A tester records the user acceptance test; the answer."""

        def record() -> dict[str, Any]:
            self.evidence(podman)
            answer: dict[str, Any] = self.tidegate_json(
                self.tester, "props", "patch", f"test/{IMAGE}:{VERSION}", "qa.uat=passed"
            )
            return answer

        return self._once("accepted", record)

    def in_prod(self, podman: Podman) -> dict[str, Any]:
        """5. Operations promotes test -> prod; the promotion record."""

        def promote() -> dict[str, Any]:
            self.accepted(podman)
            record: dict[str, Any] = self.tidegate_json(
                self.operations, "promote", f"test/{IMAGE}:{VERSION}", "--to", "prod"
            )
            return record

        return self._once("in_prod", promote)

    def state(self, name: str) -> tuple[list[str], dict[str, str]]:
        """What admin sees of ``HOST/<name>``: its tags and the digest of each."""
        return self.site.state(name)


@pytest.fixture(scope="module")
def pipeline(
    reg: Registry, cenv: ContainersEnv, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    work = tmp_path_factory.mktemp("pipeline-clients")
    site = Site(reg, cenv, work)
    try:
        yield Pipeline(site, reg, cenv, corpus, work)
    finally:
        site.close()


def props_of(answer: dict[str, Any]) -> dict[str, list[str]]:
    """The user properties of a ``props`` answer (without the ``tidegate.*`` system ones)."""
    return {k: v for k, v in answer["properties"].items() if not k.startswith("tidegate.")}


# ---------------------------------------------------------------------- 1. the developer
def test_1_developer_pushes_with_podman_through_docker_to_dev(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    pushed = p.pushed(podman)

    assert p.state(f"docker/{IMAGE}")[1][VERSION] == pushed.digest
    name = f"dev/{IMAGE}"
    assert VERSION in p.skopeo(p.developer).list_tags(p.ref(name))
    seen = p.skopeo(p.developer).inspect(p.ref(f"{name}:{VERSION}"))
    assert seen["Digest"] == pushed.digest
    assert seen["Labels"]["org.opencontainers.image.title"] == "tidegate-e2e-app"
    answer = p.tidegate_json(p.developer, "props", "get", f"{name}:{VERSION}")
    assert answer["digest"] == pushed.digest
    assert answer["properties"]["tidegate.pushed_by"] == [p.developer.name]
    assert props_of(answer) == {}


# ---------------------------------------------------------------------- 2. CI: dev -> test
def test_2_ci_promotes_dev_to_test_with_the_cli(pipeline: Pipeline, podman: Podman) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    sbom = p.sbom(podman)
    record = p.in_test(podman)

    assert (record["outcome"], record["actor"], record["source"], record["target"]) == (
        "promoted",
        p.ci.name,
        "dev",
        "test",
    )
    assert (record["digest"], record["target_tag"], record["referrers"]) == (
        pushed.digest,
        VERSION,
        1,
    )
    # testers see in test the very manifest the developer pushed, and its SBOM
    tester = p.skopeo(p.tester)
    assert VERSION in tester.list_tags(p.ref(f"test/{IMAGE}"))
    assert tester.inspect_raw(p.ref(f"test/{IMAGE}:{VERSION}")) == pushed.raw
    with p.wire(p.tester) as wire:
        r = wire.referrers(f"test/{IMAGE}", pushed.digest)
        assert r.status_code == 200, wire.transcript()
        found = [(m["digest"], m.get("artifactType")) for m in r.json()["manifests"]]
    assert found == [(sbom, SBOM_TYPE)]
    answer = p.tidegate_json(p.tester, "props", "get", f"test/{IMAGE}:{VERSION}")
    assert answer["properties"]["tidegate.promoted_from"] == [f"dev/{IMAGE}@{pushed.digest}"]
    assert answer["properties"]["tidegate.promoted_by"] == [p.ci.name]
    # dev keeps its copy
    assert p.state(f"dev/{IMAGE}")[1][VERSION] == pushed.digest


# ---------------------------------------------------------------------- 3. CI: test evidence
def test_3_ci_records_the_automated_results_as_properties(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    answer = p.evidence(podman)

    expected = {
        "qa.automated": ["passed"],
        "qa.report": [QA_REPORT],
        "qa.commit": [QA_COMMIT],
    }
    assert answer["digest"] == pushed.digest
    assert props_of(answer) == expected
    # what a tester reads back; the dev copy carries its own properties (none)
    seen = p.tidegate_json(p.tester, "props", "get", f"test/{IMAGE}:{VERSION}")
    assert props_of(seen) == expected
    dev = p.tidegate_json(p.developer, "props", "get", f"dev/{IMAGE}:{VERSION}")
    assert props_of(dev) == {}


# ---------------------------------------------------------------------- 4. the tester
def test_4_tester_records_uat_and_cannot_push_or_delete(pipeline: Pipeline, podman: Podman) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    answer = p.accepted(podman)
    assert props_of(answer) == {
        "qa.automated": ["passed"],
        "qa.report": [QA_REPORT],
        "qa.commit": [QA_COMMIT],
        "qa.uat": ["passed"],
    }

    before = {name: p.state(name) for name in (f"test/{IMAGE}", f"dev/{IMAGE}")}
    assert before[f"test/{IMAGE}"][1][VERSION] == pushed.digest

    auth = p.podman_login(podman, p.tester)
    source = f"{p.host}/test/{IMAGE}:{VERSION}"
    podman("pull", "--tls-verify=false", "--authfile", auth, source)
    for target in (
        f"{p.host}/test/{IMAGE}:{VERSION}-uat",
        source,
        f"{p.host}/dev/{IMAGE}:{VERSION}-uat",
    ):
        podman("tag", source, target)
        proc = podman("push", "--tls-verify=false", "--authfile", auth, target, check=False)
        assert_refused(proc, f"the tester's podman push {target}")
    for name in (f"test/{IMAGE}:{VERSION}", f"dev/{IMAGE}:{VERSION}"):
        with pytest.raises(CommandFailed) as refused:
            p.skopeo(p.tester).delete(p.ref(name))
        assert_refused(refused.value, f"the tester's skopeo delete {name}")

    assert {name: p.state(name) for name in before} == before
    assert props_of(p.tidegate_json(p.tester, "props", "get", f"test/{IMAGE}:{VERSION}")) == (
        props_of(answer)
    )


# ---------------------------------------------------------------------- 5. operations
def test_5_operations_promotes_to_prod_through_the_gate(pipeline: Pipeline, podman: Podman) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    sbom = p.sbom(podman)
    record = p.in_prod(podman)

    assert (record["outcome"], record["actor"], record["source"], record["target"]) == (
        "promoted",
        p.operations.name,
        "test",
        "prod",
    )
    checks = {c["condition"]: c["passed"] for c in record["evaluation"]["checks"]}
    assert record["evaluation"]["passed"] is True
    assert checks == {"from": True, "qa.automated=passed": True, "qa.uat=passed": True}

    # skopeo shows in prod the digest the developer pushed to dev
    ops = p.skopeo(p.operations)
    assert ops.inspect(p.ref(f"prod/{IMAGE}:{VERSION}"))["Digest"] == pushed.digest
    assert p.skopeo(p.developer).inspect(p.ref(f"dev/{IMAGE}:{VERSION}"))["Digest"] == (
        pushed.digest
    )
    assert ops.inspect_raw(p.ref(f"prod/{IMAGE}:{VERSION}")) == pushed.raw
    # the evidence and the SBOM arrived with it
    answer = p.tidegate_json(p.operations, "props", "get", f"prod/{IMAGE}:{VERSION}")
    assert props_of(answer)["qa.automated"] == ["passed"]
    assert props_of(answer)["qa.uat"] == ["passed"]
    assert answer["properties"]["tidegate.promoted_from"] == [f"test/{IMAGE}@{pushed.digest}"]
    assert answer["properties"]["tidegate.promoted_by"] == [p.operations.name]
    with p.wire(p.operations) as wire:
        r = wire.referrers(f"prod/{IMAGE}", pushed.digest)
        assert r.status_code == 200, wire.transcript()
        assert [m["digest"] for m in r.json()["manifests"]] == [sbom]

    # the lineage of the digest: dev -> test -> prod
    with p.api(p.operations) as api:
        r = api.get("/api/v1/promotions", params={"digest": pushed.digest})
    assert r.status_code == 200, r.text
    assert [(x["source"], x["target"], x["outcome"], x["actor"]) for x in r.json()] == [
        ("dev", "test", "promoted", p.ci.name),
        ("test", "prod", "promoted", p.operations.name),
    ]

    # prod's 1.4.0 is immutable: a hotfix that passed every gate cannot take its tag
    hotfix = p.podman_push(podman, p.corpus.base, f"dev/{IMAGE}:{HOTFIX}")
    assert hotfix.digest != pushed.digest
    p.tidegate_json(p.ci, "promote", f"dev/{IMAGE}:{HOTFIX}", "--to", "test")
    p.tidegate_json(p.ci, "props", "patch", f"test/{IMAGE}:{HOTFIX}", "qa.automated=passed")
    p.tidegate_json(p.tester, "props", "patch", f"test/{IMAGE}:{HOTFIX}", "qa.uat=passed")
    before = p.state(f"prod/{IMAGE}")
    assert before == ([VERSION], {VERSION: pushed.digest})
    for who in (p.operations, p.ci):
        proc = p.tidegate(
            who, "promote", f"test/{IMAGE}:{HOTFIX}", "--to", "prod", "--target-tag", VERSION
        )
        assert proc.returncode == NOT_ALLOWED, describe(proc)
        assert "immutable" in proc.stderr, describe(proc)
    assert p.state(f"prod/{IMAGE}") == before
    assert ops.inspect(p.ref(f"prod/{IMAGE}:{VERSION}"))["Digest"] == pushed.digest


# ---------------------------------------------------------------------- 6. refusals
def test_6_gate_refuses_an_image_without_automated_tests_and_prod_refuses_pushes(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    name = f"{CHECKOUT}:{CHECKOUT_VERSION}"
    pushed = p.podman_push(podman, p.corpus.amd64, f"dev/{name}")
    p.tidegate_json(p.ci, "promote", f"dev/{name}", "--to", "test")
    p.tidegate_json(p.tester, "props", "patch", f"test/{name}", "qa.uat=passed")

    proc = p.tidegate(p.operations, "promote", f"test/{name}", "--to", "prod")
    assert proc.returncode == GATE_REFUSED, describe(proc)
    assert "qa.automated=passed" in proc.stderr, describe(proc)
    assert "qa.automated is not set" in proc.stderr, describe(proc)
    assert "qa.uat" not in proc.stderr, describe(proc)  # only the failed condition
    proc = p.tidegate(p.operations, "promote", f"test/{name}", "--to", "prod", "--json")
    assert proc.returncode == GATE_REFUSED, describe(proc)
    refusal = json.loads(proc.stdout)
    assert refusal["code"] == "GATE_REFUSED"
    assert refusal["failed"] == [
        {"condition": "qa.automated=passed", "reason": "qa.automated is not set"}
    ]
    assert refusal["evaluation"]["passed"] is False

    # nothing arrived in prod
    ops_skopeo = p.skopeo(p.operations)
    missing = ops_skopeo(
        "inspect", "--tls-verify=false", "--authfile", ops_skopeo.authfile, p.ref(f"prod/{name}"),
        check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "unknown" in missing.stderr.lower(), describe(missing)

    # recorded in the lineage of the digest, and in the audit
    with p.api(p.operations) as ops:
        r = ops.get("/api/v1/promotions", params={"digest": pushed.digest})
    assert r.status_code == 200, r.text
    lineage = [(x["source"], x["target"], x["outcome"], x["actor"]) for x in r.json()]
    assert lineage == [
        ("dev", "test", "promoted", p.ci.name),
        ("test", "prod", "refused", p.operations.name),
        ("test", "prod", "refused", p.operations.name),
    ]
    assert r.json()[1]["evaluation"] == refusal["evaluation"]
    audit = p.site.call("GET", "/api/v1/audit", 200, params={"action": "promotion.refused"})
    mine = [e for e in audit if CHECKOUT in (e["target"] or "")]
    assert len(mine) == 2, audit
    assert {(e["actor"], e["outcome"]) for e in mine} == {(p.operations.name, "refused")}
    assert all("qa.automated is not set" in (e["reason"] or "") for e in mine), mine

    # a direct push to prod is refused for everyone: the developer, operations, admin
    admin = Person(p.reg.username, p.reg.password, "")
    for who in (p.developer, p.operations, admin):
        with pytest.raises(CommandFailed) as refused:
            p.skopeo(who).copy(p.corpus.oci("linux-amd64"), p.ref(f"prod/{name}"))
        text = assert_refused(refused.value, f"{who.name}'s skopeo copy to prod")
        assert re.search(r"\bdenied\b", text), text
        if who is admin:
            assert "does not accept pushes" in text, text
    r = httpx.get(
        f"{p.reg.url}/v2/prod/{CHECKOUT}/tags/list",
        auth=(p.reg.username, p.reg.password),
        timeout=30,
    )
    assert r.status_code == 404, r.text


# ---------------------------------------------------------------------- 8. a production node
def test_8_containerd_pulls_prod_with_a_read_only_service_account_token(
    pipeline: Pipeline, podman: Podman, ctr: Ctr
) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    p.in_prod(podman)

    node = p.service_account("node", [])
    p.site.call(
        "POST",
        "/api/v1/permissions",
        201,
        json={
            "name": f"e2e-prod-pull-{uuid.uuid4().hex[:8]}",
            "repositories": ["prod"],
            "include": ["**"],
            "exclude": [],
            "users": {node.name: ["read"]},
            "groups": {},
            "anonymous": [],
        },
    )
    ref = f"{p.host}/prod/{IMAGE}:{VERSION}"
    creds = ["--plain-http", "--user", f"{node.name}:{node.token}"]
    ctr("images", "pull", *creds, "--snapshotter", "native", ref)
    assert ctr.image_digest(ref) == pushed.digest

    # read-only: the node's token cannot push anywhere
    target = f"{p.host}/dev/{IMAGE}:node"
    ctr("images", "tag", "--force", ref, target)
    assert_refused(ctr("images", "push", *creds, target, check=False), f"ctr push {target}")
    assert "node" not in p.state(f"dev/{IMAGE}")[0]


# ---------------------------------------------------------------------- search
def test_operations_finds_the_accepted_copies_with_search(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    p.in_prod(podman)

    answer = p.tidegate_json(p.operations, "search", "--prop", "qa.uat=passed")
    found = {
        (item["repo"], item["tag"], item["digest"])
        for item in answer["items"]
        if item["image"] == IMAGE and item["tag"] == VERSION
    }
    assert found == {("test", VERSION, pushed.digest), ("prod", VERSION, pushed.digest)}
    assert all(item["repo"] != "dev" for item in answer["items"]), answer
    assert all(item["properties"]["qa.uat"] == ["passed"] for item in answer["items"]), answer


def test_search_names_the_developer_as_the_pusher_of_promoted_copies(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    p.in_prod(podman)

    answer = p.tidegate_json(p.operations, "search", "--image", IMAGE, "--tag", VERSION)
    pushers = {
        item["repo"]: (item["pushed_by"], item["properties"]["tidegate.pushed_by"])
        for item in answer["items"]
    }
    developer = (p.developer.name, [p.developer.name])
    assert pushers == {"dev": developer, "test": developer, "prod": developer}
