"""``/api/v1/properties?repo=&image=&reference=``: the properties of a manifest (a tag or a
digest) in one repository and image. ``read`` to get, ``annotate`` to change (the property
service checks both); ``tidegate.*`` keys are read-only."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import ConfigDict, RootModel

from tidegate.http.api.deps import Api, Caller, call
from tidegate.http.api.schema import Strict

router = APIRouter(prefix="/api/v1/properties", tags=["properties"])


class Properties(Strict):
    repo: str
    image: str
    digest: str
    properties: dict[str, list[str]]


class Values(RootModel[dict[str, list[str]]]):
    """``{"key": ["value", ...]}``"""

    model_config = ConfigDict(strict=True)


class Changes(RootModel[dict[str, list[str] | None]]):
    """``{"key": ["value", ...], "gone": null}``: ``null`` removes a key."""

    model_config = ConfigDict(strict=True)


Repo = Annotated[str, Query(description="repository key")]
Image = Annotated[str, Query(description="image inside the repository, e.g. shop/cart")]
Reference = Annotated[str, Query(description="a tag or a digest")]


@router.get("")
async def get_properties(
    api: Api, caller: Caller, repo: Repo, image: Image, reference: Reference
) -> Properties:
    view = await call(api.properties.get, caller.principal, repo, image, reference)
    return Properties.model_validate(asdict(view))


@router.put("")
async def replace_properties(
    body: Annotated[Values, Body()],
    api: Api,
    caller: Caller,
    repo: Repo,
    image: Image,
    reference: Reference,
) -> Properties:
    """Every user property becomes exactly the body's (system properties stay)."""
    view = await call(api.properties.replace, caller, repo, image, reference, body.root)
    return Properties.model_validate(asdict(view))


@router.patch("")
async def patch_properties(
    body: Annotated[Changes, Body()],
    api: Api,
    caller: Caller,
    repo: Repo,
    image: Image,
    reference: Reference,
) -> Properties:
    """Sets the given keys; removes those given ``null``."""
    view = await call(api.properties.patch, caller, repo, image, reference, body.root)
    return Properties.model_validate(asdict(view))


@router.post("/values")
async def add_property_values(
    body: Annotated[Values, Body()],
    api: Api,
    caller: Caller,
    repo: Repo,
    image: Image,
    reference: Reference,
) -> Properties:
    """Adds the given values to their keys, keeping those already there (``PATCH`` replaces a
    key's list): two callers adding a value at the same moment both keep theirs."""
    view = await call(api.properties.add, caller, repo, image, reference, body.root)
    return Properties.model_validate(asdict(view))


@router.delete("")
async def delete_properties(
    api: Api,
    caller: Caller,
    repo: Repo,
    image: Image,
    reference: Reference,
    key: Annotated[list[str] | None, Query(description="keys to remove (none: all)")] = None,
) -> Properties:
    """Removes the named keys, or every user property."""
    view = await call(api.properties.remove, caller, repo, image, reference, key)
    return Properties.model_validate(asdict(view))
