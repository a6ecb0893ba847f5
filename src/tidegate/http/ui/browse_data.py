"""What the browsing pages compute from API answers, without calling anything: the order of
the stage repositories, the pipeline's rows, references and ``key=value`` lines checked before
they reach a URL, a manifest read into what the image page shows, and pull commands.

Pure functions over the JSON of ``/api/v1`` and ``/v2``; ``pages_browse`` does the calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidegate.errors import DigestInvalid
from tidegate.http.ui.client import ApiError
from tidegate.oci.digest import DIGEST_RE, SUPPORTED_ALGORITHMS, Digest, is_digest
from tidegate.oci.names import IMAGE_NAME_RE, NAME_MAX, TAG_RE

STAGE_ORDER = ("dev", "test", "prod")
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
MAX_CONFIG_BYTES = 1024 * 1024  # a config larger than this is not read by the image page


def bad_request(message: str) -> ApiError:
    return ApiError(400, "INVALID", message)


def checked_ref(ref: str) -> str:
    """A tag or a digest (the grammar of ``tidegate.oci``), or ``ApiError`` 400: it goes into
    a /v2 path. A digest of an algorithm Tidegate does not know is the API's to refuse."""
    if TAG_RE.fullmatch(ref):
        return ref
    algorithm = ref.partition(":")[0]
    if algorithm in SUPPORTED_ALGORITHMS:
        try:
            Digest.parse(ref)
        except DigestInvalid as exc:
            raise bad_request(f"{ref[:80]!r} is not a valid {algorithm} digest: {exc}") from None
        return ref
    if DIGEST_RE.fullmatch(ref):
        return ref
    raise bad_request(f"{ref[:80]!r} is neither a tag nor a digest (algorithm:hex)")


def checked_image(image: str) -> str:
    if IMAGE_NAME_RE.fullmatch(image) and len(image) <= NAME_MAX:
        return image
    raise bad_request(f"{image[:80]!r} is not an image name (lower-case path such as shop/cart)")


def parse_properties(text: str) -> dict[str, list[str]]:
    """``key=value`` lines (a key may come back for more values); blank lines are skipped."""
    found: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise bad_request(f"property line {number} {line[:80]!r} is not key=value")
        values = found.setdefault(key.strip(), [])
        if value.strip() not in values:
            values.append(value.strip())
    return found


# ---------------------------------------------------------------------------- stages


def gate_sources(repo: dict[str, Any]) -> list[str]:
    gate = repo.get("options", {}).get("gate") or {}
    sources = gate.get("from") if isinstance(gate, dict) else None
    return [str(s) for s in sources] if isinstance(sources, list) else []


def _feeds(source: dict[str, Any], target: dict[str, Any]) -> bool:
    sources = gate_sources(target)
    return source["key"] in sources or f"stage:{source.get('stage')}" in sources


def stage_repositories(repos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The local repositories with a stage, in pipeline order: each one's gate ``from`` chain
    (a repository before those whose gate takes from it), ties by dev, test, prod, then key."""
    staged = [r for r in repos if r.get("kind") == "local" and r.get("stage")]

    def rank(repo: dict[str, Any]) -> tuple[int, str]:
        stage = str(repo.get("stage"))
        return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), repo["key"])

    remaining = sorted(staged, key=rank)
    ordered: list[dict[str, Any]] = []
    while remaining:
        ready = [
            r for r in remaining if not any(_feeds(o, r) for o in remaining if o is not r)
        ] or remaining  # a cycle of gates: fall back to the stage order
        ordered.append(ready[0])
        remaining.remove(ready[0])
    return ordered


def next_stage(stages: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The stage repository whose gate takes from ``key`` (else the next in order)."""
    keys = [s["key"] for s in stages]
    if key not in keys:
        return None
    source = stages[keys.index(key)]
    fed = [s for s in stages if s is not source and _feeds(source, s)]
    if fed:
        return fed[0]
    later = stages[keys.index(key) + 1 :]
    return later[0] if later else None


# ---------------------------------------------------------------------------- pipeline


def arrived(item: dict[str, Any]) -> str:
    """When a tag arrived in its repository: promoted-at if it came by promotion, else pushed."""
    promoted = item.get("properties", {}).get("tidegate.promoted_at") or []
    return str(promoted[0]) if promoted else str(item.get("pushed_at") or "")


@dataclass
class StageCell:
    repo: str
    tags: list[dict[str, Any]] = field(default_factory=list)  # newest first
    preview: dict[str, Any] | None = None  # the gate toward the next stage, for the newest tag

    @property
    def newest(self) -> dict[str, Any] | None:
        return self.tags[0] if self.tags else None


@dataclass
class PipelineRow:
    image: str
    cells: list[StageCell]


def pipeline_rows(stage_keys: list[str], items: list[dict[str, Any]]) -> list[PipelineRow]:
    """One row per image found in any stage, ordered by name; tags newest first."""
    by_image: dict[str, dict[str, StageCell]] = {}
    for item in items:
        if item.get("tag") is None or item.get("repo") not in stage_keys:
            continue
        by_stage = by_image.setdefault(item["image"], {k: StageCell(k) for k in stage_keys})
        by_stage[item["repo"]].tags.append({**item, "arrived": arrived(item)})
    rows = []
    for image in sorted(by_image):
        cells = [by_image[image][k] for k in stage_keys]
        for cell in cells:
            cell.tags.sort(key=lambda t: (t["arrived"], t["tag"]), reverse=True)
        rows.append(PipelineRow(image, cells))
    return rows


# ---------------------------------------------------------------------------- manifests


@dataclass
class ManifestView:
    digest: str
    media_type: str
    is_index: bool
    artifact_type: str | None
    config: dict[str, Any] | None  # its descriptor
    layers: list[dict[str, Any]]
    children: list[dict[str, Any]]  # of an index: digest, size, media type, platform

    @property
    def size(self) -> int:
        parts = [*self.layers, *([self.config] if self.config else [])]
        return sum(descriptor_size(p) or 0 for p in parts)


def descriptor_size(descriptor: dict[str, Any]) -> int | None:
    """A descriptor's ``size`` when it is a whole number (a manifest is the pusher's JSON: an
    ``int()`` of whatever it holds could raise)."""
    size = descriptor.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def _descriptors(value: Any) -> list[dict[str, Any]]:
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else []


def platform_text(descriptor: dict[str, Any]) -> str:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return "—"
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    return "/".join(str(p) for p in parts if p)


def manifest_view(digest: str, media_type: str, body: Any) -> ManifestView:
    if not isinstance(body, dict):
        raise ApiError(502, "MANIFEST_INVALID", "the registry answered a manifest that is not JSON")
    kind = str(body.get("mediaType") or media_type)
    children = [
        {**d, "platform_text": platform_text(d)} for d in _descriptors(body.get("manifests"))
    ]
    config = body.get("config") if isinstance(body.get("config"), dict) else None
    return ManifestView(
        digest=digest,
        media_type=kind,
        is_index="index" in kind or "list" in kind or bool(children),
        artifact_type=body.get("artifactType") or (config or {}).get("mediaType"),
        config=config,
        layers=_descriptors(body.get("layers")),
        children=children,
    )


def pull_commands(host: str, repo: str, image: str, ref: str) -> list[tuple[str, str]]:
    """(client, command) for docker, podman and containerd."""
    target = f"{host}/{repo}/{image}{'@' if is_digest(ref) else ':'}{ref}"
    return [
        ("docker", f"docker pull {target}"),
        ("podman", f"podman pull {target}"),
        ("containerd", f"ctr images pull {target}"),
    ]
