"""Composition root: settings -> storage -> database -> services -> auth -> HTTP app.

The only module that imports every layer. Nothing is built at import time: ``create_app`` is
the factory the ASGI server calls in each worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp as StarletteASGIApp
from starlette.types import Receive, Scope, Send

from tidegate.auth.credentials import CredentialChecker
from tidegate.auth.identity import IdentityState
from tidegate.auth.permissions import PermissionEvaluator
from tidegate.auth.throttle import LoginThrottle
from tidegate.auth.token_service import TokenService
from tidegate.auth.tokens import TokenCodec
from tidegate.blobstore import BlobStore, UploadStore
from tidegate.config import Settings, load_settings
from tidegate.db import Database
from tidegate.http.asgi import build_asgi
from tidegate.http.auth import Gatekeeper
from tidegate.http.observe import TrustedProxies, observed
from tidegate.http.token import TokenEndpoint
from tidegate.http.v2.context import Services
from tidegate.http.v2.router import V2App
from tidegate.logging import configure
from tidegate.services.audit import AuditLog
from tidegate.services.blobs import BlobService
from tidegate.services.bootstrap import token_secret
from tidegate.services.catalog import CatalogService
from tidegate.services.cleanup import CleanupService
from tidegate.services.content import ContentRouter, LocalContent
from tidegate.services.delivery import DeliveryWorker
from tidegate.services.events import EventService
from tidegate.services.gc import GarbageCollector, GcOptions, StorageService
from tidegate.services.identity import IdentityService
from tidegate.services.jobs import JobService, Scheduler, Task
from tidegate.services.manifests import ManifestService
from tidegate.services.metrics import Metrics
from tidegate.services.names import NameResolver
from tidegate.services.permissions import PermissionTargetService
from tidegate.services.promotion import PromotionService
from tidegate.services.properties import PropertyService
from tidegate.services.remote import RemoteContent
from tidegate.services.repositories import RepositoryService
from tidegate.services.retention_policies import RetentionPolicies
from tidegate.services.search import SearchService
from tidegate.services.trash import TrashBin, TrashService
from tidegate.services.uploads import UploadService
from tidegate.services.virtual import VirtualContent
from tidegate.storage.factory import create_driver

SERVICE_NAME = "tidegate"

ASGIApp = Callable[[Scope, Receive, Send], object]


@dataclass(frozen=True, slots=True)
class Built:
    app: ASGIApp
    db: Database
    services: Services


RETENTION_TICK = 60.0  # seconds between looks for due retention schedules


def build(settings: Settings) -> Built:
    driver = create_driver(settings.storage.driver, settings.storage_root)
    db = Database(settings.resolved_database_url)
    names = NameResolver(db, settings.default_repository)
    identity_state = IdentityState(db)
    evaluator = PermissionEvaluator(identity_state)
    audit = AuditLog(db)
    tokens = TokenService(
        CredentialChecker(identity_state),
        evaluator,
        TokenCodec(token_secret(db), SERVICE_NAME, settings.token_ttl),
        names.permission_subject,
    )
    gatekeeper = Gatekeeper(
        tokens, audit, LoginThrottle(settings.login_failures, settings.login_failure_window)
    )
    identity = IdentityService(db, identity_state, audit)
    permissions = PermissionTargetService(db, identity_state, evaluator, audit)
    store = BlobStore(driver)
    blobs = BlobService(db, store, names)
    trash = TrashBin(settings.trash_days)
    manifests = ManifestService(db, evaluator, audit, trash)
    metrics = Metrics()
    upload_store = UploadStore(driver)
    remote = RemoteContent(db, manifests, blobs, store, upload_store, metrics)
    content = ContentRouter(LocalContent(manifests, blobs), {"remote": remote})
    virtual = VirtualContent(content, names, evaluator)
    content.register("virtual", virtual)
    jobs = JobService(db)
    collector = GarbageCollector(
        db,
        store,
        upload_store,
        jobs,
        audit,
        GcOptions(grace=settings.gc.grace, uploads_max_age=settings.uploads_max_age),
        metrics,
    )
    cleanup = CleanupService(db, names, evaluator, audit, trash)
    policies = RetentionPolicies(db, names, evaluator, audit, cleanup)

    # Retention policies carry their own schedules: one look a minute finds those due.
    def retention() -> None:
        policies.run_scheduled()

    tasks = [Task("retention", RETENTION_TICK, retention)]
    if settings.gc.schedule is not None:
        tasks.append(Task("gc", settings.gc.schedule, collector.run_scheduled))
    scheduler = Scheduler(db, tasks)
    services = Services(
        names=names,
        blobs=blobs,
        uploads=UploadService(db, upload_store, metrics),
        manifests=manifests,
        catalog=CatalogService(db, names, evaluator),
        content=content,
        gatekeeper=gatekeeper,
        body_idle_timeout=settings.body_idle_timeout,
    )

    delivery = DeliveryWorker(db, settings.events, settings.url, settings.smtp, metrics, evaluator)

    def ready() -> None:
        db.ping()
        driver.list("")

    def startup() -> None:
        delivery.start()
        scheduler.start()

    def shutdown() -> None:
        scheduler.stop()
        delivery.stop()
        audit.flush()
        db.dispose()

    def management_api() -> StarletteASGIApp:
        from tidegate.http.api.app import build_api  # FastAPI: loaded on first use only
        from tidegate.http.api.deps import ApiServices

        return build_api(
            ApiServices(
                gatekeeper,
                identity,
                permissions,
                audit,
                PromotionService(db, names, evaluator, audit, metrics),
                PropertyService(db, names, evaluator, audit),
                RepositoryService(db, names, evaluator, audit, content),
                SearchService(db, names, evaluator),
                cleanup,
                policies,
                TrashService(db, names, evaluator, audit),
                EventService(db, evaluator, audit),
                collector,
                jobs,
                StorageService(db, names, evaluator),
            )
        )

    def web_ui(inner: StarletteASGIApp) -> StarletteASGIApp:
        from tidegate.http.ui.app import build_ui  # Jinja2 and templates: on first use only

        return build_ui(inner, settings.ui_session_hours)

    app = build_asgi(
        V2App(services),
        TokenEndpoint(tokens, gatekeeper),
        ready,
        shutdown,
        management_api,
        metrics.render,
        startup,
        web_ui,
    )
    proxies = TrustedProxies(settings.trusted_proxies) if settings.trusted_proxies else None
    return Built(observed(app, metrics, proxies), db, services)


def create_app() -> ASGIApp:
    """ASGI factory for granian/uvicorn workers: settings come from the environment."""
    settings = load_settings()
    configure(settings.log_level)
    return build(settings).app
