"""The permission matrix of the default installation (PRODUCT.md §3, docs/access.md "Defaults"),
observed through a real ``tidegate serve`` the way clients see it.

For every default group (developers, testers, operations, ci; plus a ``ci`` service account
signing in with an access token, and a user in no group) x every default repository (dev, test,
prod, hub, docker, release) x every action (read, annotate, deploy, overwrite, delete, promote,
manage):

- the token flow: ``/auth/token`` is asked for ``repository:<repo>/matrix/app:pull,push,delete``
  and must grant exactly the wire actions the role holds (pull = read, push = deploy,
  delete = delete); one request with a ``scope`` parameter per repository plus
  ``registry:catalog:*`` must grant the same, and the catalog lists only what the caller may read;
- the wire, where the repository holds content (dev, test, prod are local; hub is a remote and
  docker and release are virtual addresses over them, tested in test_virtual.py, so there only
  the token grants are asserted; the catalog lists ``docker/...`` and ``release/...`` names for
  images of members the caller may read), with the JWT:
  read = GET the manifest (200, or 401 ``insufficient_scope``; with Basic credentials 403 DENIED);
  deploy = push blobs and a manifest under a new tag (201, or refused and the tag does not exist);
  overwrite = push a different manifest to an existing tag (201, or refused and the tag still
  names the old digest); delete = DELETE a tag (202, or refused and the tag is unchanged).
  prod has ``immutable_tags``, so tag deletion there is admin-only whatever the grants:
  operations' ``delete`` in prod is exercised on an untagged manifest (by digest), and its
  refused tag deletion is checked separately;
- annotate, promote and manage have no wire endpoint: they are exercised through the management
  API in dev, test and prod (docs/promotion.md): annotate = PATCH a property of the seeded
  manifest (200, or 403 and the property is absent); promote = a dry-run promotion of
  ``dev/matrix/app:base`` into the repository (200 whatever the gate says, or 403; every
  default role that may promote may also read dev); manage = PUT the repository's gate back
  unchanged (200, or 403). ``GET /api/v1/me/permissions``, called as each principal, must agree
  with all seven (and is the only observation of annotate, promote and manage in hub, docker
  and release).

The default install has ``allow_push: false`` on test and prod (content arrives there only by
promotion, a later issue), so this server is started with a config file that reproduces the
default repositories of PRODUCT.md §3 exactly, except ``allow_push: true`` on test and prod, so that
admin can seed content there. (Their gates are kept as configured; this release does not evaluate
gates on push.) The permission targets and groups are the defaults created on first start.

The observed matrix is printed (run with ``-s``) and is in the failure message of
``test_matrix_is_exactly_product_spec`` as a table, for pasting into a note.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.server import RunningServer, tidegate_server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE = "matrix/app"
ACTIONS = ("read", "annotate", "deploy", "overwrite", "delete", "promote", "manage")
WIRE = {"pull": "read", "push": "deploy", "delete": "delete"}  # wire action -> Tidegate action
REPOS = ("dev", "test", "prod", "hub", "docker", "release")
LOCAL = ("dev", "test", "prod")
GROUPS = ("developers", "testers", "operations", "ci")

# A push through a virtual repository lands in its default_deploy member (PRODUCT.md §2.3, §10
# scenario 1), so the token grants push on ``docker/...`` to whoever may deploy into ``dev``;
# the permissions held on ``docker`` itself stay those of the table.
VIRTUAL_PUSH = {"docker": "dev"}
VIRTUAL_MEMBERS = {"docker": ("dev", "test", "prod", "hub"), "release": ("prod", "hub")}

_ALL_DEV = {"read", "annotate", "deploy", "overwrite", "delete"}
_SHARED = {"hub": {"read"}, "docker": {"read"}, "release": {"read"}}
# PRODUCT.md §3, "Groups and permission targets" (the same table is in docs/access.md "Defaults").
EXPECTED: dict[str, dict[str, set[str]]] = {
    "developers": {"dev": set(_ALL_DEV), "test": {"read"}, "prod": set(), **_SHARED},
    "testers": {"dev": {"read"}, "test": {"read", "annotate"}, "prod": {"read"}, **_SHARED},
    "operations": {
        "dev": {"read"},
        "test": {"read"},
        "prod": {"read", "annotate", "promote", "delete", "manage"},
        **_SHARED,
    },
    "ci": {
        "dev": _ALL_DEV | {"promote"},
        "test": {"read", "annotate", "delete", "promote"},
        "prod": {"read", "promote"},
        **_SHARED,
    },
    "none": {repo: set() for repo in REPOS},  # a user in no group: nothing (anonymous is off)
}


@dataclass(frozen=True)
class Who:
    """One principal of the matrix: its row label, the group it is in, its credentials."""

    label: str
    group: str  # a key of EXPECTED
    username: str
    password: str  # a password, or an access token (service account)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)


PRINCIPALS = (
    ("developers", "developers"),
    ("testers", "testers"),
    ("operations", "operations"),
    ("ci", "ci"),
    ("ci (service account)", "ci"),
    ("no group", "none"),
)

# The default repositories of PRODUCT.md §3, except allow_push: true on test and prod.
CONFIG = """\
repositories:
  - {key: dev, kind: local, stage: dev}
  - key: test
    kind: local
    stage: test
    allow_push: true            # default: false (promotion only); true so admin can seed
    gate: {from: [dev]}
  - key: prod
    kind: local
    stage: prod
    protected: true
    allow_push: true            # default: false (promotion only); true so admin can seed
    immutable_tags: true
    gate: {from: [test], require: ["qa.automated=passed", "qa.uat=passed"]}
  - {key: hub, kind: remote, upstream: "https://registry-1.docker.io"}
  - {key: docker, kind: virtual, members: [dev, test, prod, hub], default_deploy: dev}
  - {key: release, kind: virtual, members: [prod, hub]}
"""


# ---------------------------------------------------------------------- wire helpers
def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(who: Who) -> dict[str, str]:
    raw = f"{who.username}:{who.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def jwt_access(token: str) -> dict[str, set[str]]:
    """The ``access`` claim of a registry JWT: ``type:name`` -> granted actions."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    granted: dict[str, set[str]] = {}
    for entry in claims.get("access") or []:
        granted.setdefault(f"{entry['type']}:{entry['name']}", set()).update(entry["actions"])
    return granted


def challenge_params(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def error_code(r: httpx.Response) -> str:
    try:
        return str(r.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return f"(no error body: {r.text[:80]!r})"


def push_blob(c: httpx.Client, name: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
    return c.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": sha256(data)}, content=data, headers=headers
    )


def manifest(config_digest: str, config_size: int, layer: bytes, note: str) -> bytes:
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": sha256(layer),
                "size": len(layer),
            }
        ],
        "annotations": {"org.opencontainers.image.description": note},
    }
    return json.dumps(body).encode()


def put_manifest(
    c: httpx.Client, name: str, ref: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return c.put(
        f"/v2/{name}/manifests/{ref}",
        content=body,
        headers={**headers, "Content-Type": OCI_MANIFEST},
    )


# ---------------------------------------------------------------------- the server and people
CONFIG_BYTES = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"matrix layer seeded by admin"


class Env:
    """The running server, admin's client and the matrix's principals."""

    def __init__(self, server: RunningServer, admin: httpx.Client, anon: httpx.Client) -> None:
        self.server = server
        self.admin = admin  # Basic credentials of admin on every call
        self.anon = anon  # no credentials of its own: each call brings a principal's
        self.who: dict[str, Who] = {}
        self.realm = ""
        self.service = ""

    def seed(self, repo: str, ref: str, note: str) -> str:
        """Admin pushes a manifest (seeded blobs + a distinct annotation) as ``ref``; its digest."""
        name = f"{repo}/{IMAGE}"
        body = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), LAYER, note)
        r = put_manifest(self.admin, name, ref, body, {})
        assert r.status_code == 201, f"seeding {name}:{ref} as admin: {r.status_code} {r.text}"
        return sha256(body)

    def digest_of(self, repo: str, ref: str) -> str | None:
        """What ``ref`` resolves to, as admin sees it (None: unknown)."""
        r = self.admin.head(f"/v2/{repo}/{IMAGE}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        if r.status_code == 404:
            return None
        assert r.status_code == 200, f"HEAD {repo}/{IMAGE}:{ref} as admin: {r.status_code}"
        return str(r.headers["docker-content-digest"])

    def tags(self, repo: str) -> list[str]:
        r = self.admin.get(f"/v2/{repo}/{IMAGE}/tags/list")
        assert r.status_code == 200, r.text
        return sorted(r.json().get("tags") or [])

    def token(self, who: Who, *scopes: str) -> str:
        """A registry JWT for ``who``, asked for ``scopes`` (GET with Basic, as docker does)."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("service", self.service),
            *(("scope", s) for s in scopes),
        ]
        r = httpx.get(self.realm, params=params, auth=who.auth, timeout=30)
        assert r.status_code == 200, f"/auth/token as {who.username}: {r.status_code} {r.text}"
        return str(r.json()["token"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("matrix")
    config = work / "tidegate.yaml"
    config.write_text(CONFIG)
    with (
        tidegate_server(work / "data", config=config) as server,
        server.client() as admin,
        httpx.Client(base_url=server.url, timeout=60) as anon,
    ):
        e = Env(server, admin, anon)
        challenge = httpx.get(f"{server.url}/v2/", timeout=10).headers["www-authenticate"]
        params = challenge_params(challenge)
        e.realm, e.service = params["realm"], params["service"]
        run = uuid.uuid4().hex[:6]
        for label, group in PRINCIPALS:
            if label == "ci (service account)":
                name = f"m-ci-bot-{run}"
                r = admin.post("/api/v1/service-accounts", json={"name": name, "groups": ["ci"]})
                assert r.status_code == 201, r.text
                r = admin.post("/api/v1/tokens", json={"name": "matrix", "principal": name})
                assert r.status_code == 201, r.text
                e.who[label] = Who(label, group, name, r.json()["token"])
                continue
            name = f"m-{group}-{run}"
            password = f"pw-{uuid.uuid4().hex}"
            groups = [] if group == "none" else [group]
            r = admin.post(
                "/api/v1/users", json={"username": name, "password": password, "groups": groups}
            )
            assert r.status_code == 201, r.text
            e.who[label] = Who(label, group, name, password)
        for repo in LOCAL:
            name = f"{repo}/{IMAGE}"
            for blob in (CONFIG_BYTES, LAYER):
                r = push_blob(admin, name, blob, {})
                assert r.status_code == 201, f"seeding a blob in {name}: {r.status_code} {r.text}"
            e.seed(repo, "base", "base")
        yield e


# ---------------------------------------------------------------------- observing one cell
@dataclass
class Cell:
    label: str
    group: str
    repo: str
    granted: set[str] = field(default_factory=set)  # wire actions, one-scope request
    granted_multi: set[str] = field(default_factory=set)  # wire actions, all-scopes request
    api: set[str] = field(default_factory=set)  # GET /api/v1/me/permissions
    wire: dict[str, bool] = field(default_factory=dict)  # local repositories only
    problems: list[str] = field(default_factory=list)

    @property
    def observed(self) -> set[str]:
        """The cell's value: the wire where it answers, then the token, then the API."""
        result: set[str] = set()
        for action in ACTIONS:
            if action in self.wire:
                allowed = self.wire[action]
            elif action in WIRE.values() and not (action == "deploy" and self.repo in VIRTUAL_PUSH):
                allowed = any(WIRE[w] == action for w in self.granted)
            else:
                allowed = action in self.api
            if allowed:
                result.add(action)
        return result

    @property
    def expected(self) -> set[str]:
        return EXPECTED[self.group][self.repo]


def _refused(r: httpx.Response, what: str, cell: Cell, wire_action: str | None) -> None:
    """Record a problem unless ``r`` is the refusal the docs promise: with a JWT lacking
    ``wire_action``, 401 UNAUTHORIZED with ``error="insufficient_scope"`` (the client may ask
    again); with a JWT granting it (a rule a token cannot express: overwrite, immutable tags),
    or with Basic credentials (``wire_action`` None), 403 DENIED."""
    challenge = r.headers.get("www-authenticate", "")
    if wire_action is not None and wire_action not in cell.granted:
        if r.status_code == 401 and 'error="insufficient_scope"' in challenge:
            return
        expected = '401 with error="insufficient_scope"'
    else:
        if r.status_code == 403 and error_code(r) == "DENIED":
            return
        expected = "403 DENIED"
    cell.problems.append(f"{what}: expected {expected}, got {r.status_code} {error_code(r)}")


def observe_wire(e: Env, who: Who, cell: Cell) -> None:
    repo, c = cell.repo, e.anon
    name = f"{repo}/{IMAGE}"
    tag = who.username
    jwt = bearer(e.token(who, f"repository:{name}:pull,push,delete"))

    # read: the seeded manifest, with the JWT and with Basic credentials
    base = e.digest_of(repo, "base")
    r = c.get(f"/v2/{name}/manifests/base", headers={**jwt, "Accept": OCI_MANIFEST})
    if r.status_code == 200:
        cell.wire["read"] = True
        if sha256(r.content) != base:
            cell.problems.append("read: the manifest's bytes do not match its digest")
    else:
        cell.wire["read"] = False
        _refused(r, "read (JWT)", cell, "pull")
    rb = c.get(f"/v2/{name}/manifests/base", headers={"Accept": OCI_MANIFEST}, auth=who.auth)
    basic_ok = rb.status_code == 200
    if not basic_ok:
        _refused(rb, "read (Basic)", cell, None)
    if basic_ok != cell.wire["read"]:
        cell.problems.append(f"read: JWT {r.status_code} but Basic {rb.status_code}")

    # deploy: new blobs and a manifest under a new tag
    layer = f"layer of {who.username} in {repo}".encode()
    tags_before = e.tags(repo)
    r = push_blob(c, name, layer, {**jwt})
    config_r = push_blob(c, name, CONFIG_BYTES, {**jwt})
    if r.status_code == 201 and config_r.status_code == 201:
        body = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), layer, f"deploy {who.username}")
        r = put_manifest(c, name, f"deploy-{tag}", body, jwt)
        cell.wire["deploy"] = r.status_code == 201
        if r.status_code == 201:
            if e.digest_of(repo, f"deploy-{tag}") != sha256(body):
                cell.problems.append("deploy: 201 but the tag does not name the pushed digest")
        else:
            _refused(r, "deploy (manifest after the blobs were accepted)", cell, "push")
    else:
        cell.wire["deploy"] = False
        _refused(r if r.status_code != 201 else config_r, "deploy (blob upload)", cell, "push")
        # the manifest alone (its blobs are already in the repository) is refused too
        body = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), LAYER, f"deploy {who.username}")
        r = put_manifest(c, name, f"deploy-{tag}", body, jwt)
        if r.status_code == 201:
            cell.wire["deploy"] = True
            cell.problems.append("deploy: blob upload refused, but the manifest PUT took 201")
        else:
            _refused(r, "deploy (manifest)", cell, "push")
            rb = put_manifest(c, name, f"deploy-{tag}", body, basic(who))
            if rb.status_code != 201:  # (else: a JWT/Basic mismatch, caught in the API check)
                _refused(rb, "deploy (manifest, Basic)", cell, None)
        if e.digest_of(repo, f"deploy-{tag}") is not None or e.tags(repo) != tags_before:
            cell.problems.append("deploy: refused, yet the tags changed")

    # overwrite: move an existing tag to another digest
    old = e.seed(repo, f"ovw-{tag}", f"old {who.username}")
    body = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), LAYER, f"new {who.username}")
    r = put_manifest(c, name, f"ovw-{tag}", body, jwt)
    cell.wire["overwrite"] = r.status_code == 201
    now = e.digest_of(repo, f"ovw-{tag}")
    if r.status_code == 201:
        if now != sha256(body):
            cell.problems.append("overwrite: 201 but the tag does not name the new digest")
    else:
        _refused(r, "overwrite", cell, "push")
        rb = put_manifest(c, name, f"ovw-{tag}", body, basic(who))
        if rb.status_code != 201:
            _refused(rb, "overwrite (Basic)", cell, None)
        now = e.digest_of(repo, f"ovw-{tag}")
        if now != old:
            cell.problems.append(f"overwrite: refused, yet the tag moved ({old} -> {now})")

    # delete: a tag (dev, test), or an untagged manifest by digest (prod: tags are immutable)
    immutable = repo == "prod"
    if immutable:
        body = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), LAYER, f"del {who.username}")
        target = ref = e.seed(repo, sha256(body), f"del {who.username}")  # by digest: untagged
    else:
        target = e.seed(repo, f"del-{tag}", f"delete {who.username}")
        ref = f"del-{tag}"
    r = c.delete(f"/v2/{name}/manifests/{ref}", headers=jwt)
    cell.wire["delete"] = r.status_code == 202
    after = e.digest_of(repo, ref)
    if r.status_code == 202:
        if after is not None:
            cell.problems.append(f"delete: 202 but {ref} still resolves")
    else:
        _refused(r, "delete", cell, "delete")
        rb = c.delete(f"/v2/{name}/manifests/{ref}", headers=basic(who))
        if rb.status_code != 202:
            _refused(rb, "delete (Basic)", cell, None)
        after = e.digest_of(repo, ref)
        if after != target:
            cell.problems.append(f"delete: refused, yet {ref} changed ({target} -> {after})")
    if immutable and "delete" in {WIRE[a] for a in cell.granted}:
        # a tag in prod: immutable, so only admin deletes it, whatever the grants
        r = c.delete(f"/v2/{name}/manifests/ovw-{tag}", headers=jwt)
        if r.status_code != 403 or error_code(r) != "DENIED":
            cell.problems.append(
                f"delete of a tag in prod (immutable): expected 403 DENIED, got"
                f" {r.status_code} {error_code(r)}"
            )
        if e.digest_of(repo, f"ovw-{tag}") != now:
            cell.problems.append("delete of an immutable tag: refused, yet the tag changed")


def observe_management(e: Env, who: Who, cell: Cell) -> None:
    """annotate, promote and manage, through the calls that need them."""
    repo = cell.repo
    key = f"matrix.{who.username}"
    params = {"repo": repo, "image": IMAGE, "reference": "base"}
    r = e.anon.patch("/api/v1/properties", params=params, json={key: ["x"]}, auth=who.auth)
    cell.wire["annotate"] = r.status_code == 200
    stored = e.admin.get("/api/v1/properties", params=params).json()["properties"]
    if r.status_code not in (200, 403):
        cell.problems.append(f"annotate: expected 200 or 403, got {r.status_code} {r.text[:120]}")
    if (key in stored) != cell.wire["annotate"]:
        cell.problems.append(f"annotate: answered {r.status_code}, stored: {key in stored}")

    body = {
        "source": "dev",
        "target": repo,
        "image": IMAGE,
        "tag": "base",
        "target_image": "matrix/promoted",
        "dry_run": True,
    }
    r = e.anon.post("/api/v1/promotions", json=body, auth=who.auth)
    cell.wire["promote"] = r.status_code == 200
    if r.status_code not in (200, 403):
        cell.problems.append(f"promote: expected 200 or 403, got {r.status_code} {r.text[:120]}")

    gate = e.admin.get(f"/api/v1/repositories/{repo}/gate").json()
    r = e.anon.put(f"/api/v1/repositories/{repo}/gate", json=gate, auth=who.auth)
    cell.wire["manage"] = r.status_code == 200
    if r.status_code not in (200, 403):
        cell.problems.append(f"manage: expected 200 or 403, got {r.status_code} {r.text[:120]}")
    if e.admin.get(f"/api/v1/repositories/{repo}/gate").json() != gate:
        cell.problems.append("manage: the gate changed")


@dataclass
class Matrix:
    cells: dict[tuple[str, str], Cell]
    catalog: dict[str, list[str]]  # label -> local repositories whose matrix image it lists
    catalog_problems: dict[str, list[str]]

    def table(self, mark_differences: bool = True) -> str:
        def fmt(actions: set[str]) -> str:
            return " ".join(a for a in ACTIONS if a in actions) or "—"

        lines = [
            "| principal | " + " | ".join(REPOS) + " |",
            "|---|" + "---|" * len(REPOS),
        ]
        for label, _ in PRINCIPALS:
            row = []
            for repo in REPOS:
                cell = self.cells[(label, repo)]
                text = fmt(cell.observed)
                if mark_differences and cell.observed != cell.expected:
                    text += f" **(expected: {fmt(cell.expected)})**"
                row.append(text)
            lines.append(f"| {label} | " + " | ".join(row) + " |")
        return "\n".join(lines)


def _key(name: str) -> str:
    return f"repository:{name}"


def observe_cell(env: Env, who: Who, cell: Cell, multi_access: dict[str, set[str]]) -> None:
    repo, name = cell.repo, f"{cell.repo}/{IMAGE}"
    cell.granted_multi = multi_access.get(_key(name), set())
    one = env.token(who, f"repository:{name}:pull,push,delete")
    cell.granted = jwt_access(one).get(_key(name), set())
    r = httpx.get(
        f"{env.server.url}/api/v1/me/permissions",
        params={"repo": repo, "image": IMAGE},
        auth=who.auth,
        timeout=30,
    )
    if r.status_code == 200:
        body = r.json()
        cell.api = set(body.get("actions") or [])
        if body.get("repo") != repo or body.get("image") != IMAGE:
            cell.problems.append(f"me/permissions answered for another resource: {body}")
    else:
        cell.problems.append(f"GET /api/v1/me/permissions: {r.status_code} {r.text[:200]}")
    if repo in LOCAL:
        observe_wire(env, who, cell)
        observe_management(env, who, cell)


def observe_catalog(
    env: Env, who: Who, problems: list[str]
) -> tuple[dict[str, set[str]], list[str]]:
    """One token request with a scope per repository plus the catalog; what the catalog lists."""
    names = [f"{repo}/{IMAGE}" for repo in REPOS]
    multi = env.token(
        who, *(f"repository:{n}:pull,push,delete" for n in names), "registry:catalog:*"
    )
    access = jwt_access(multi)
    if access.get("registry:catalog") != {"*"}:
        problems.append(f"registry:catalog:* granted {access.get('registry:catalog')}")
    r = env.anon.get("/v2/_catalog", headers=bearer(multi))
    if r.status_code != 200:
        problems.append(f"GET /v2/_catalog with the JWT: {r.status_code} {r.text[:200]}")
        return access, []
    listed = r.json().get("repositories") or []
    return access, [n.split("/")[0] for n in listed if n.endswith(f"/{IMAGE}")]


@pytest.fixture(scope="module")
def matrix(env: Env) -> Matrix:
    """Observe every cell first (a failure is recorded in the cell, not raised), so that any
    failing assertion can show the whole matrix."""
    cells: dict[tuple[str, str], Cell] = {}
    catalog: dict[str, list[str]] = {}
    catalog_problems: dict[str, list[str]] = {}
    for label, group in PRINCIPALS:
        who = env.who[label]
        problems = catalog_problems.setdefault(label, [])
        multi_access: dict[str, set[str]] = {}
        catalog[label] = []
        try:
            multi_access, catalog[label] = observe_catalog(env, who, problems)
        except (AssertionError, httpx.HTTPError) as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        for repo in REPOS:
            cell = cells[(label, repo)] = Cell(label, group, repo)
            try:
                observe_cell(env, who, cell, multi_access)
            except (AssertionError, httpx.HTTPError) as exc:
                cell.problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    result = Matrix(cells, catalog, catalog_problems)
    print("\nObserved permission matrix (PRODUCT.md §3 defaults):\n" + result.table() + "\n")
    return result


# ---------------------------------------------------------------------- the assertions
def test_matrix_is_exactly_product_spec(matrix: Matrix) -> None:
    wrong = [c for c in matrix.cells.values() if c.observed != c.expected]
    assert not wrong, (
        f"{len(wrong)} cell(s) differ from PRODUCT.md §3 (details in the per-cell tests):\n"
        + matrix.table()
    )


@pytest.mark.parametrize("repo", REPOS)
@pytest.mark.parametrize("label", [p[0] for p in PRINCIPALS])
def test_cell(matrix: Matrix, label: str, repo: str) -> None:
    cell = matrix.cells[(label, repo)]
    wire_expected = {w for w, a in WIRE.items() if a in cell.expected}
    if repo in VIRTUAL_PUSH:
        wire_expected.discard("push")
        if "deploy" in EXPECTED[cell.group][VIRTUAL_PUSH[repo]]:
            wire_expected.add("push")
    report = (
        f"{label} in {repo}: expected {sorted(cell.expected)}\n"
        f"  observed (wire/token/API): {sorted(cell.observed)}\n"
        f"  token grants, one scope: {sorted(cell.granted)}; in a multi-scope request:"
        f" {sorted(cell.granted_multi)}; expected {sorted(wire_expected)}\n"
        f"  GET /api/v1/me/permissions: {sorted(cell.api)}\n"
        f"  wire: {cell.wire}\n  problems: {cell.problems}"
    )
    assert cell.granted == wire_expected, report
    assert cell.granted_multi == wire_expected, report
    assert cell.api == cell.expected, report
    assert cell.observed == cell.expected, report
    assert not cell.problems, report


@pytest.mark.parametrize("label", [p[0] for p in PRINCIPALS])
def test_catalog_is_granted_and_lists_only_readable_repositories(
    matrix: Matrix, label: str
) -> None:
    group = dict(PRINCIPALS)[label]
    readable = [r for r in LOCAL if "read" in EXPECTED[group][r]]
    # a virtual lists the images of the members the caller may read, if it may read the virtual
    for virtual, members in VIRTUAL_MEMBERS.items():
        if "read" in EXPECTED[group][virtual] and set(members) & set(readable):
            readable.append(virtual)
    readable.sort()
    assert not matrix.catalog_problems[label], matrix.catalog_problems[label]
    assert sorted(matrix.catalog[label]) == readable


def test_default_targets_and_groups_are_the_documented_ones(env: Env) -> None:
    """GET /api/v1/permissions and /groups show the defaults of docs/access.md."""
    r = env.admin.get("/api/v1/groups")
    assert r.status_code == 200, r.text
    assert set(GROUPS) <= {g["name"] for g in r.json()}
    r = env.admin.get("/api/v1/permissions")
    assert r.status_code == 200, r.text
    targets = {t["name"]: t for t in r.json()}
    expected_repos = {
        "dev": ["dev"],
        "test": ["test"],
        "prod": ["prod"],
        "shared": ["hub", "docker", "release"],
    }
    for name, repos in expected_repos.items():
        assert name in targets, sorted(targets)
        target = targets[name]
        assert sorted(target["repositories"]) == sorted(repos), target
        assert target.get("anonymous", []) == [], target
        repo = repos[0]
        for group in GROUPS:
            granted = set(target["groups"].get(group, []))
            assert granted == EXPECTED[group][repo], (name, group, target)


def test_overwrite_needs_its_own_grant(env: Env) -> None:
    """A principal with deploy but not overwrite may push new tags, re-push the same digest to a
    tag, but not move a tag: 403 DENIED (a rule a token cannot express), nothing changes."""
    name = f"m-deployer-{uuid.uuid4().hex[:6]}"
    password = f"pw-{uuid.uuid4().hex}"
    r = env.admin.post("/api/v1/users", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    image = f"matrix/deploy-only-{uuid.uuid4().hex[:6]}"
    target = {
        "name": f"deploy-only-{uuid.uuid4().hex[:6]}",
        "repositories": ["dev"],
        "include": [image],
        "exclude": [],
        "users": {name: ["read", "deploy"]},
        "groups": {},
        "anonymous": [],
    }
    r = env.admin.post("/api/v1/permissions", json=target)
    assert r.status_code == 201, r.text
    who = Who("deployer", "none", name, password)
    full = f"dev/{image}"
    token = env.token(who, f"repository:{full}:pull,push,delete")
    assert jwt_access(token).get(_key(full)) == {"pull", "push"}
    jwt = bearer(token)
    c = env.anon
    layer = b"deploy-only layer"
    for blob in (CONFIG_BYTES, layer):
        assert push_blob(c, full, blob, jwt).status_code == 201
    first = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), layer, "first")
    second = manifest(sha256(CONFIG_BYTES), len(CONFIG_BYTES), layer, "second")
    assert put_manifest(c, full, "1.0", first, jwt).status_code == 201
    assert put_manifest(c, full, "1.0", first, jwt).status_code == 201  # same digest: no move
    moved = put_manifest(c, full, "1.0", second, jwt)
    assert moved.status_code == 403, moved.text
    assert error_code(moved) == "DENIED"
    head = env.admin.head(f"/v2/{full}/manifests/1.0", headers={"Accept": OCI_MANIFEST})
    assert head.headers["docker-content-digest"] == sha256(first)
    assert put_manifest(c, full, "2.0", second, jwt).status_code == 201  # a new tag is fine
    refused = c.delete(f"/v2/{full}/manifests/2.0", headers=jwt)
    assert refused.status_code == 401
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


def test_config_is_the_default_repositories_except_allow_push() -> None:
    """Keeps CONFIG honest: the same repositories, options and gates as the built-in defaults
    (the server's own DEFAULT_REPOSITORIES), except allow_push on test and prod."""
    import yaml

    from tidegate.services.bootstrap import DEFAULT_REPOSITORIES

    ours = {r["key"]: r for r in yaml.safe_load(CONFIG)["repositories"]}
    defaults = {r.key: r.model_dump(exclude_none=True) for r in DEFAULT_REPOSITORIES}
    assert sorted(ours) == sorted(REPOS)
    assert sorted(defaults) == sorted(REPOS), "the built-in defaults are not PRODUCT.md §3's six"
    from tidegate.config import RepositorySettings

    for key, entry in ours.items():
        mine = RepositorySettings(**entry).model_dump(exclude_none=True)
        if key in ("test", "prod"):
            assert mine.pop("allow_push") is True
            assert defaults[key].pop("allow_push") is False
        assert mine == defaults[key], key
