"""Who may call which route of the management API, in one table, and what a handler gets.

``ACCESS`` has one entry per route: ``SELF`` (any signed-in user or service account: what it
may see or do is then the service's business, e.g. only its own tokens) or ``ADMIN``.
``build_api`` refuses to build when a route has no entry, so no route is reachable by accident.
Authentication is the Gatekeeper's (``authenticate_api``: Basic password or access token,
``Authorization: Bearer tdg_...``); anonymous callers are refused on every route.

Handlers take ``caller: Caller`` (the ``Actor`` the services audit) and ``api: Api`` (the
services), and run blocking service calls with ``call``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, TypeVar, cast

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.routing import APIRoute

from tidegate.errors import Denied, Unauthorized
from tidegate.http.auth import Gatekeeper, client_address
from tidegate.services.audit import Actor, AuditLog
from tidegate.services.cleanup import CleanupService
from tidegate.services.events import EventService
from tidegate.services.gc import GarbageCollector, StorageService
from tidegate.services.identity import IdentityService
from tidegate.services.jobs import JobService
from tidegate.services.permissions import PermissionTargetService
from tidegate.services.promotion import PromotionService
from tidegate.services.properties import PropertyService
from tidegate.services.repositories import RepositoryService
from tidegate.services.retention_policies import RetentionPolicies
from tidegate.services.search import SearchService
from tidegate.services.trash import TrashService

PREFIX = "/api/v1"


class Need(StrEnum):
    SELF = "self"
    ADMIN = "admin"


SELF, ADMIN = Need.SELF, Need.ADMIN

ACCESS: dict[tuple[str, str], Need] = {
    ("GET", "/me"): SELF,
    ("GET", "/me/permissions"): SELF,
    ("PUT", "/me/password"): SELF,  # a user's own password, proving the current one
    ("GET", "/users"): ADMIN,
    ("POST", "/users"): ADMIN,
    ("GET", "/users/{name}"): ADMIN,
    ("PATCH", "/users/{name}"): ADMIN,
    ("DELETE", "/users/{name}"): ADMIN,
    ("GET", "/service-accounts"): ADMIN,
    ("POST", "/service-accounts"): ADMIN,
    ("GET", "/service-accounts/{name}"): ADMIN,
    ("PATCH", "/service-accounts/{name}"): ADMIN,
    ("DELETE", "/service-accounts/{name}"): ADMIN,
    ("GET", "/groups"): ADMIN,
    ("POST", "/groups"): ADMIN,
    ("GET", "/groups/{name}"): ADMIN,
    ("DELETE", "/groups/{name}"): ADMIN,
    ("PUT", "/groups/{name}/members/{principal}"): ADMIN,
    ("DELETE", "/groups/{name}/members/{principal}"): ADMIN,
    ("GET", "/tokens"): SELF,  # whose tokens: the identity service decides
    ("POST", "/tokens"): SELF,
    ("DELETE", "/tokens/{token_id}"): SELF,
    ("GET", "/permissions"): ADMIN,
    ("POST", "/permissions"): ADMIN,
    ("GET", "/permissions/{name}"): ADMIN,
    ("PUT", "/permissions/{name}"): ADMIN,
    ("DELETE", "/permissions/{name}"): ADMIN,
    ("GET", "/audit"): ADMIN,
    # events (docs/events.md): admin, or manage on every repository a subscription lists
    ("GET", "/webhooks"): SELF,
    ("POST", "/webhooks"): SELF,
    ("GET", "/webhooks/{webhook_id}"): SELF,
    ("PATCH", "/webhooks/{webhook_id}"): SELF,
    ("DELETE", "/webhooks/{webhook_id}"): SELF,
    ("GET", "/webhooks/{webhook_id}/deliveries"): SELF,
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): SELF,
    ("GET", "/notifications"): SELF,
    ("POST", "/notifications"): SELF,
    ("DELETE", "/notifications/{notification_id}"): SELF,
    # promotion, properties, gates (docs/promotion.md): the services check read, annotate,
    # promote, delete, overwrite and manage per repository and image
    ("POST", "/promotions"): SELF,
    ("GET", "/promotions"): SELF,
    ("GET", "/promotions/preview"): SELF,  # read on the source image (the service)
    ("GET", "/properties"): SELF,
    ("PUT", "/properties"): SELF,
    ("PATCH", "/properties"): SELF,
    ("POST", "/properties/values"): SELF,
    ("DELETE", "/properties"): SELF,
    ("GET", "/repositories"): SELF,
    ("POST", "/repositories"): ADMIN,
    ("GET", "/repositories/{key}"): SELF,
    ("PATCH", "/repositories/{key}"): SELF,  # admin, or manage on the repository
    ("DELETE", "/repositories/{key}"): ADMIN,
    ("GET", "/repositories/{key}/resolve"): SELF,  # read on the virtual repository
    ("GET", "/repositories/{key}/gate"): SELF,
    ("PUT", "/repositories/{key}/gate"): SELF,
    ("GET", "/search"): SELF,
    # lifecycle (docs/lifecycle.md): the cleanup service checks manage (retention), delete
    # (plan, apply, restore) and read (plans, trash) per repository and image
    ("GET", "/repositories/{key}/retention"): SELF,
    ("PUT", "/repositories/{key}/retention"): SELF,
    ("DELETE", "/repositories/{key}/retention"): SELF,
    ("POST", "/cleanup/plans"): SELF,
    ("GET", "/cleanup/plans"): SELF,
    ("GET", "/cleanup/plans/{plan_id}"): SELF,
    ("POST", "/cleanup/plans/{plan_id}/apply"): SELF,
    ("GET", "/trash"): SELF,
    ("POST", "/trash/{entry_id}/restore"): SELF,  # the service lists only what the caller may read
    ("DELETE", "/trash/{entry_id}"): SELF,  # delete on the entry's image (the service)
    # lifecycle (docs/lifecycle.md): garbage collection, its jobs, storage accounting
    ("POST", "/gc"): ADMIN,
    ("GET", "/gc"): ADMIN,
    ("GET", "/jobs/{job_id}"): ADMIN,
    ("GET", "/storage"): ADMIN,
    ("GET", "/storage/{key}"): SELF,  # admin, or manage on the repository (the service)
    # the Artifactory-compatible subset: the same service calls and checks as above
    ("POST", "/artifactory/api/docker/{repo_key}/v2/promote"): SELF,
    ("GET", "/artifactory/api/storage/{repo_key}/{path:path}"): SELF,
    ("PUT", "/artifactory/api/storage/{repo_key}/{path:path}"): SELF,
    ("DELETE", "/artifactory/api/storage/{repo_key}/{path:path}"): SELF,
}


def route_needs(route: APIRoute) -> dict[str, Need | None]:
    """What each method of a route needs (``None``: the route is missing from ``ACCESS``)."""
    path = route.path.removeprefix(PREFIX)
    return {method: ACCESS.get((method, path)) for method in sorted(route.methods or ())}


@dataclass(frozen=True, slots=True)
class ApiServices:
    """What the management API needs from the composition root."""

    gatekeeper: Gatekeeper
    identity: IdentityService
    permissions: PermissionTargetService
    audit: AuditLog
    promotions: PromotionService
    properties: PropertyService
    repositories: RepositoryService
    search: SearchService
    cleanup: CleanupService
    retention: RetentionPolicies
    trash: TrashService
    events: EventService
    gc: GarbageCollector
    jobs: JobService
    storage: StorageService


def api_services(request: Request) -> ApiServices:
    return cast(ApiServices, request.app.state.services)


async def authorize(request: Request) -> Actor:
    """Authenticate the caller and check the route's entry in ``ACCESS`` (missing: admin)."""
    api = api_services(request)
    principal = await api.gatekeeper.authenticate_api(request)
    if principal.is_anonymous:
        raise Unauthorized("authentication required: use Basic credentials or a Bearer token")
    request.state.principal = principal  # for the audit of a refusal
    route = request.scope.get("route")
    need = route_needs(route).get(request.method) if isinstance(route, APIRoute) else None
    if (need or ADMIN) is ADMIN and not principal.is_admin:
        raise Denied(f"{principal.name} may not {request.method} {request.url.path}: admins only")
    return Actor(principal, client_address(request))


Caller = Annotated[Actor, Depends(authorize)]
Api = Annotated[ApiServices, Depends(api_services)]

T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking service call in a worker thread (the event loop keeps serving)."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))
