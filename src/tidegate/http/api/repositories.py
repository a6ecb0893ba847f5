"""``/api/v1/repositories``: the repositories (key, kind, stage, options), creating,
configuring and deleting them, their gates, and the resolution of a virtual repository.
Reading is open to every signed-in caller; creating and deleting needs admin (``ACCESS``);
changing a repository or its gate needs ``manage`` on it (checked by the repository service).
A remote's ``upstream_password`` is write-only: never in an answer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import Field, SecretStr

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict

router = APIRouter(prefix="/api/v1/repositories", tags=["repositories"])


class Repository(Strict):
    key: str
    kind: str
    stage: str | None
    options: dict[str, Any]


class RepositoryOptions(Strict):
    """Options by kind — local: allow_push, immutable_tags, protected, quota, gate,
    allow_sparse; remote: upstream (http(s)://HOST[:PORT]), upstream_username,
    upstream_password (write-only), library_prefix, tag_ttl, offline, negative_ttl,
    upstream_timeout (seconds), allow_sparse; virtual: members (in resolution order),
    default_deploy (a local member; receives pushes, resolved first)."""

    stage: str | None = None
    allow_push: bool | None = None
    immutable_tags: bool | None = None
    protected: bool | None = None
    quota: int | str | None = None  # bytes, or "10GiB"
    gate: dict[str, Any] | None = None
    allow_sparse: bool | None = None
    upstream: str | None = None
    upstream_username: str | None = None
    upstream_password: SecretStr | None = None
    library_prefix: bool | None = None
    tag_ttl: int | None = None
    offline: bool | None = None
    negative_ttl: int | None = None
    upstream_timeout: float | None = None
    members: list[str] | None = None
    default_deploy: str | None = None

    def given(self) -> dict[str, Any]:
        """The fields the body named (``null`` included: PATCH removes those)."""
        data: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            data[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return data


class NewRepository(RepositoryOptions):
    key: str
    kind: Literal["local", "remote", "virtual"]


class MemberOutcome(Strict):
    member: str
    kind: str
    readable: bool
    outcome: str
    digest: str | None = None


class Resolution(Strict):
    repository: str
    image: str
    reference: str
    served_by: str | None
    digest: str | None
    members: list[MemberOutcome]


class Gate(Strict):
    """``from``: repository keys or ``stage:<name>`` (empty: any source); ``require``:
    conditions ``k=v``, ``k!=v``, ``k``, ``!k``, ``referrer=<artifactType>``."""

    sources: list[str] = Field(default=[], alias="from")
    require: list[str] = []

    model_config = Strict.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    def as_dict(self) -> dict[str, list[str]]:
        return {"from": list(self.sources), "require": list(self.require)}


@router.get("")
async def list_repositories(api: Api, _: Caller) -> list[Repository]:
    return [Repository.model_validate(asdict(r)) for r in await call(api.repositories.list_all)]


@router.post("", status_code=201)
async def create_repository(body: NewRepository, api: Api, caller: Caller) -> Repository:
    """Creates a repository (admin). ``key``, ``kind``, ``stage`` and the kind's options."""
    view = await call(api.repositories.create, caller, body.given())
    return Repository.model_validate(asdict(view))


@router.get("/{key}")
async def get_repository(key: str, api: Api, _: Caller) -> Repository:
    return Repository.model_validate(asdict(await call(api.repositories.get, key)))


@router.patch("/{key}")
async def update_repository(
    key: str, body: RepositoryOptions, api: Api, caller: Caller
) -> Repository:
    """Changes the given options (``null``: back to the default). Admin, or ``manage`` on
    the repository."""
    view = await call(api.repositories.update, caller, key, body.given())
    return Repository.model_validate(asdict(view))


@router.delete("/{key}", status_code=204)
async def delete_repository(
    key: str,
    api: Api,
    caller: Caller,
    force: Annotated[bool, Query(description="also when it holds images")] = False,
) -> Response:
    """Deletes a repository (admin). 409 while a virtual repository lists it, when it is the
    default_repository, or when it holds images and ``force`` is not given."""
    await call(api.repositories.delete, caller, key, force)
    return Response(status_code=204)


@router.get("/{key}/resolve")
async def resolve(
    key: str,
    api: Api,
    caller: Caller,
    image: Annotated[str, Query(min_length=1)],
    reference: Annotated[str, Query(min_length=1)],
) -> Resolution:
    """Which member of the virtual repository serves ``image:reference`` for the caller, and
    what each member answered, in resolution order. Needs read on the virtual repository."""
    view = await api.repositories.resolve(caller, key, image, reference)
    return Resolution.model_validate(asdict(view))


@router.get("/{key}/gate")
async def get_gate(key: str, api: Api, _: Caller) -> dict[str, list[str]]:
    return await call(api.repositories.gate, key)


@router.put("/{key}/gate")
async def set_gate(key: str, body: Gate, api: Api, caller: Caller) -> dict[str, list[str]]:
    """Replaces the gate (``{}``: no rules). Needs ``manage`` on the repository."""
    return await call(api.repositories.set_gate, caller, key, body.as_dict())


@router.get("/{key}/retention")
async def get_retention(key: str, api: Api, _: Caller) -> dict[str, Any]:
    """The retention policy (404 when the repository has none)."""
    return await call(api.retention.retention, key)


@router.put("/{key}/retention")
async def set_retention(
    key: str, api: Api, caller: Caller, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Replaces the retention policy: ``{rules: [{tags, keep_last, older_than, where,
    protect}], untagged_older_than, schedule}`` (docs/lifecycle.md). Needs manage."""
    return await call(api.retention.set_retention, caller, key, body)


@router.delete("/{key}/retention", status_code=204)
async def delete_retention(key: str, api: Api, caller: Caller) -> Response:
    """Removes the retention policy (scheduled runs stop). Needs manage."""
    await call(api.retention.delete_retention, caller, key)
    return Response(status_code=204)
