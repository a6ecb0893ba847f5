"""Composition root: settings -> storage -> database -> services -> auth -> HTTP app.

The only module that imports every layer. Nothing is built at import time: ``create_app`` is
the factory the ASGI server calls in each worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.token_service import TokenService
from tidegate.auth.tokens import TokenCodec
from tidegate.blobstore import BlobStore, UploadStore
from tidegate.config import Settings, load_settings
from tidegate.db import Database
from tidegate.http.asgi import build_asgi
from tidegate.http.auth import Gatekeeper
from tidegate.http.token import TokenEndpoint
from tidegate.http.v2.context import Services
from tidegate.http.v2.router import V2App
from tidegate.logging import configure
from tidegate.services.blobs import BlobService
from tidegate.services.bootstrap import token_secret
from tidegate.services.catalog import CatalogService
from tidegate.services.manifests import ManifestService
from tidegate.services.names import NameResolver
from tidegate.services.uploads import UploadService
from tidegate.storage.factory import create_driver

SERVICE_NAME = "tidegate"

ASGIApp = Callable[[Scope, Receive, Send], object]


@dataclass(frozen=True, slots=True)
class Built:
    app: ASGIApp
    db: Database
    services: Services


def build(settings: Settings) -> Built:
    driver = create_driver(settings.storage.driver, settings.storage_root)
    db = Database(settings.resolved_database_url)
    names = NameResolver(db)
    evaluator = PermissionEvaluator()
    tokens = TokenService(
        CredentialChecker(db),
        evaluator,
        TokenCodec(token_secret(db), SERVICE_NAME, settings.token_ttl),
    )
    gatekeeper = Gatekeeper(tokens)
    services = Services(
        names=names,
        blobs=BlobService(db, BlobStore(driver), names),
        uploads=UploadService(db, UploadStore(driver)),
        manifests=ManifestService(db),
        catalog=CatalogService(db, names, evaluator),
        gatekeeper=gatekeeper,
        body_idle_timeout=settings.body_idle_timeout,
    )

    def ready() -> None:
        names.repositories()
        driver.list("")

    app = build_asgi(
        V2App(services), TokenEndpoint(tokens, gatekeeper.password_checks), ready, db.dispose
    )
    return Built(app, db, services)


def create_app() -> ASGIApp:
    """ASGI factory for granian/uvicorn workers: settings come from the environment."""
    settings = load_settings()
    configure(settings.log_level)
    return build(settings).app
