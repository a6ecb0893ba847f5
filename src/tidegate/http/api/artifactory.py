"""The Artifactory-compatible subset (docs/promotion.md), so Jenkins pipelines and
``jf rt docker-promote`` keep working: the Docker promote endpoint and the storage properties
endpoints, with Artifactory's body fields, property syntax and answer shapes. Each call is
the same service call as its ``/api/v1`` twin, with the same permission checks.

Property syntax: ``key=v1,v2;key2=v3``; a backslash escapes ``,`` ``;`` ``=`` and itself.
Artifactory's docker promote moves unless ``copy`` is true; so does this one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.responses import Response

from tidegate.errors import InvalidRequest
from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict
from tidegate.services.promotion import PromotionRequest

router = APIRouter(prefix="/artifactory/api", tags=["artifactory"])


def _split(text: str, separator: str) -> list[str]:
    """Split on unescaped ``separator``; escapes stay for the next level."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def parse_properties(text: str) -> dict[str, list[str]]:
    """``k=v1,v2;k2=v3`` → ``{"k": ["v1", "v2"], "k2": ["v3"]}``."""
    result: dict[str, list[str]] = {}
    for item in _split(text, ";"):
        if not item:
            continue
        key, *rest = _split(item, "=")
        if not rest:
            raise InvalidRequest(f"property {_unescape(key)!r} has no '=value'")
        values = _split("=".join(rest), ",")
        result.setdefault(_unescape(key), []).extend(_unescape(v) for v in values)
    return result


class DockerPromote(Strict):
    target_repo: str = Field(alias="targetRepo")
    docker_repository: str = Field(alias="dockerRepository")
    target_docker_repository: str | None = Field(None, alias="targetDockerRepository")
    tag: str | None = None
    target_tag: str | None = Field(None, alias="targetTag")
    copy_: bool = Field(False, alias="copy")


class Messages(Strict):
    messages: list[dict[str, str]]


@router.post("/docker/{repo_key}/v2/promote")
async def docker_promote(repo_key: str, body: DockerPromote, api: Api, caller: Caller) -> Messages:
    """Promote ``dockerRepository:tag`` from ``repo_key`` to ``targetRepo`` (a move unless
    ``copy`` is true); the target's gate applies exactly as for ``POST /api/v1/promotions``."""
    if body.tag is None:
        raise InvalidRequest("tag is required: this registry promotes one image version at a time")
    request = PromotionRequest(
        source=repo_key,
        target=body.target_repo,
        image=body.docker_repository,
        tag=body.tag,
        target_image=body.target_docker_repository,
        target_tag=body.target_tag,
        mode="copy" if body.copy_ else "move",
    )
    record = await call(api.promotions.promote, caller, request)
    what = "Copied" if body.copy_ else "Moved"
    return Messages.model_validate(
        {
            "messages": [
                {
                    "level": "INFO",
                    "message": f"{what} {repo_key}/{record.image}@{record.digest} to"
                    f" {record.target}/{record.target_image}:{record.target_tag or record.tag}",
                }
            ]
        }
    )


class StorageProperties(Strict):
    properties: dict[str, list[str]]
    uri: str


def _split_path(path: str) -> tuple[str, str]:
    image, sep, tag = path.strip("/").rpartition("/")
    if not sep or not image or not tag:
        raise InvalidRequest(f"expected {{image}}/{{tag}} after the repository key, not {path!r}")
    return image, tag


PropertiesQuery = Annotated[
    str | None, Query(description="k=v1,v2;k2=v3 (PUT), k1,k2 (GET/DELETE)")
]


@router.get("/storage/{repo_key}/{path:path}")
async def get_properties(
    repo_key: str, path: str, api: Api, caller: Caller, properties: PropertiesQuery = None
) -> StorageProperties:
    image, tag = _split_path(path)
    view = await call(api.properties.get, caller.principal, repo_key, image, tag)
    wanted = [_unescape(k) for k in _split(properties, ",") if k] if properties else []
    shown = {k: v for k, v in view.properties.items() if not wanted or k in wanted}
    return StorageProperties(
        properties=shown, uri=f"/artifactory/api/storage/{repo_key}/{image}/{tag}"
    )


@router.put("/storage/{repo_key}/{path:path}", status_code=204)
async def set_properties(
    repo_key: str, path: str, api: Api, caller: Caller, properties: PropertiesQuery = None
) -> Response:
    if not properties:
        raise InvalidRequest("give properties=key=value[,value][;key2=value]")
    image, tag = _split_path(path)
    changes: dict[str, list[str] | None] = dict(parse_properties(properties))
    await call(api.properties.patch, caller, repo_key, image, tag, changes)
    return Response(status_code=204)


@router.delete("/storage/{repo_key}/{path:path}", status_code=204)
async def delete_properties(
    repo_key: str, path: str, api: Api, caller: Caller, properties: PropertiesQuery = None
) -> Response:
    if not properties:
        raise InvalidRequest("give properties=key[,key2] to name the properties to delete")
    image, tag = _split_path(path)
    keys = [_unescape(k) for k in _split(properties, ",") if k]
    await call(api.properties.remove, caller, repo_key, image, tag, keys)
    return Response(status_code=204)
