"""Virtual repositories with real clients on a default-configured Tidegate (PRODUCT.md §10):

1. a developer pushes ``HOST/docker/shop/cart:1.4.0`` through the virtual address with podman
   (and another image with skopeo); it lands in ``dev`` and pulls back through ``docker``, also
   as ``HOST/shop/...`` (``default_repository``); a tester's push through ``docker`` is refused;
8. after the promotions dev -> test -> prod (the tidegate CLI, as test_pipeline.py takes them),
   a production node pulls ``HOST/release/shop/cart:1.4.0`` with containerd and a read-only
   service account's access token; its token cannot push.

The reference registry (TIDEGATE_E2E_REFERENCE=1) has no users or virtual repositories: there
these tests are expected to fail (xfail, strict), like test_pipeline.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ._clients import ContainersEnv, Ctr, Podman
from ._images import Corpus
from ._servers import Registry, reference_mode, tidegate_registry
from .test_access import Site
from .test_pipeline import IMAGE, VERSION, Pipeline, assert_refused

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xfail(
        reference_mode(),
        reason="distribution 2.8 has no users or virtual repositories (POST /api/v1/users -> 404)",
        strict=True,
    ),
]


@pytest.fixture(scope="module")
def reg(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A Tidegate of its own with the default configuration (docker, release, ...)."""
    if reference_mode():
        reference: Registry = request.getfixturevalue("registry")
        yield reference
        return
    with tidegate_registry(tmp_path_factory.mktemp("virtual")) as running:
        yield running


@pytest.fixture(scope="module")
def pipeline(
    reg: Registry, cenv: ContainersEnv, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    work = tmp_path_factory.mktemp("virtual-clients")
    site = Site(reg, cenv, work)
    try:
        yield Pipeline(site, reg, cenv, corpus, work)
    finally:
        site.close()


def test_1_podman_push_through_docker_lands_in_dev_and_pulls_back(
    pipeline: Pipeline, podman: Podman
) -> None:
    p = pipeline
    pushed = p.pushed(podman)  # podman push HOST/docker/shop/cart:1.4.0

    _, dev_digests = p.state(f"dev/{IMAGE}")
    assert dev_digests[VERSION] == pushed.digest
    for stage in ("test", "prod"):
        assert p.site.api.get(f"/v2/{stage}/{IMAGE}/tags/list").status_code == 404
    # the developer pulls it back through the virtual address, and as a one-part name
    auth = p.podman_login(podman, p.developer)
    for name in (f"docker/{IMAGE}", IMAGE):
        ref = f"{p.host}/{name}:{VERSION}"
        podman("rmi", "--force", ref, check=False)
        podman("pull", "--tls-verify=false", "--authfile", auth, ref)
        seen = podman("image", "inspect", "--format", "{{.Digest}}", ref).stdout.strip()
        assert seen == pushed.digest, f"{ref}: {seen}"
    developer = p.skopeo(p.developer)
    assert developer.inspect_raw(p.ref(f"docker/{IMAGE}:{VERSION}")) == pushed.raw
    assert VERSION in developer.list_tags(p.ref(f"docker/{IMAGE}"))
    answer = p.tidegate_json(p.developer, "props", "get", f"dev/{IMAGE}:{VERSION}")
    assert answer["properties"]["tidegate.pushed_by"] == [p.developer.name]


def test_1_skopeo_push_through_docker_lands_in_dev(pipeline: Pipeline) -> None:
    p = pipeline
    name = f"shop/basket-{uuid.uuid4().hex[:6]}"
    developer = p.skopeo(p.developer)
    developer.copy(
        p.corpus.oci(p.corpus.base.ref), p.ref(f"docker/{name}:{VERSION}"), "--preserve-digests"
    )
    in_dev = p.state(f"dev/{name}")[1][VERSION]
    assert developer.raw_digest(p.ref(f"docker/{name}:{VERSION}")) == in_dev
    explained = p.tidegate_json(p.developer, "repo", "resolve", "docker", name, VERSION)
    assert explained["served_by"] == "dev" and explained["digest"] == in_dev
    outcomes = {m["member"]: m["outcome"] for m in explained["members"]}
    assert outcomes["prod"] == "skipped: no read permission"  # developers do not read prod

    # a tester may read docker but not deploy to dev: the push through docker is refused
    tester = p.skopeo(p.tester)
    refused = tester(
        "copy", "--authfile", tester.authfile, "--dest-tls-verify=false",
        p.corpus.oci(p.corpus.base.ref), p.ref(f"docker/{name}:tester"), check=False,
    )  # fmt: skip
    assert_refused(refused, "a tester's skopeo push through docker")
    assert "tester" not in p.state(f"dev/{name}")[0]


def test_8_containerd_pulls_release_with_a_read_only_service_account_token(
    pipeline: Pipeline, podman: Podman, ctr: Ctr
) -> None:
    p = pipeline
    pushed = p.pushed(podman)
    p.in_prod(podman)  # CI: dev -> test; evidence; operations: test -> prod

    node = p.service_account("node", [])
    p.site.call(
        "POST",
        "/api/v1/permissions",
        201,
        json={
            "name": f"e2e-release-pull-{uuid.uuid4().hex[:8]}",
            "repositories": ["release", "prod"],
            "include": ["**"],
            "exclude": [],
            "users": {node.name: ["read"]},
            "groups": {},
            "anonymous": [],
        },
    )
    ref = f"{p.host}/release/{IMAGE}:{VERSION}"
    creds = ["--plain-http", "--user", f"{node.name}:{node.token}"]
    ctr("images", "pull", *creds, "--snapshotter", "native", ref)
    assert ctr.image_digest(ref) == pushed.digest

    # read-only: the node cannot push, neither through release (no default_deploy) nor docker
    for target in (f"{p.host}/release/{IMAGE}:node", f"{p.host}/docker/{IMAGE}:node"):
        ctr("images", "tag", "--force", ref, target)
        assert_refused(ctr("images", "push", *creds, target, check=False), f"ctr push {target}")
    assert "node" not in p.state(f"dev/{IMAGE}")[0]
