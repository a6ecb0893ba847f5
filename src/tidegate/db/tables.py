"""Tables. Content rows (blobs, manifest bytes) are global and content-addressed; everything a
repository holds is a row that points at them, so promotion and mounting never copy bytes."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DIGEST = String(160)
IMAGE = String(255)

repositories = Table(
    "repositories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("stage", String(64)),
    Column("options", JSON, nullable=False, default=dict),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Which (repository, image) may serve a blob: the access rule of PRODUCT.md §4.
repository_blobs = Table(
    "repository_blobs",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("image", IMAGE, primary_key=True),
    Column("digest", ForeignKey("blobs.digest"), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
Index("ix_repository_blobs_digest", repository_blobs.c.digest)
Index("ix_blobs_created_at", blobs.c.created_at)

manifest_contents = Table(
    "manifest_contents",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("content", LargeBinary, nullable=False),
)

manifests = Table(
    "manifests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", IMAGE, nullable=False),
    Column("digest", ForeignKey("manifest_contents.digest"), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("artifact_type", String(255)),
    Column("subject", DIGEST),
    Column("size", Integer, nullable=False),
    Column("annotations", JSON),
    Column("pushed_by", String(255)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("repository_id", "image", "digest"),
)
Index("ix_manifests_digest", manifests.c.digest)  # GC: is a manifest's content still named
Index("ix_manifests_subject", manifests.c.repository_id, manifests.c.image, manifests.c.subject)

# What a manifest points at: blobs (config, layers) and child manifests (index entries).
manifest_references = Table(
    "manifest_references",
    metadata,
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("kind", String(16), primary_key=True),  # "blob" | "manifest"
)
Index("ix_manifest_references_digest", manifest_references.c.digest)

tags = Table(
    "tags",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("image", IMAGE, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# The tags of one manifest: listings by digest, and the search join from manifests to tags.
Index("ix_tags_digest", tags.c.repository_id, tags.c.image, tags.c.digest)

uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", IMAGE, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Users and service accounts (kind "service": no password, access tokens only) share one name
# space, so a grant or a membership names either without ambiguity.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", Text),  # NULL for service accounts
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False, server_default="user"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("description", Text),
    Column("email", String(320)),  # notifications (docs/events.md)
    sqlite_autoincrement=True,  # row ids never reused: tokens name them
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)
Index("ix_group_members_user_id", group_members.c.user_id)

# Access tokens: the id is public (it names the token); only an argon2 hash of the secret is kept.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    # A token a caller minted for itself while signed in with another token: revoked with it.
    Column("parent_id", String(16)),
    # Set for a session token (the web UI's): the owner's password mark when it was made; the
    # token ends when the password changes, like every session opened with the old password.
    Column("password_mark", String(16)),
)
Index("ix_access_tokens_user_id", access_tokens.c.user_id)

permission_targets = Table(
    "permission_targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("repositories", JSON, nullable=False),
    Column("include", JSON, nullable=False),
    Column("exclude", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per (target, grantee): a user (or service account), a group, or anonymous (both NULL).
permission_grants = Table(
    "permission_grants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target_id", ForeignKey("permission_targets.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE")),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE")),
    Column("actions", JSON, nullable=False),
)
Index("ix_permission_grants_target_id", permission_grants.c.target_id)

# Bumped in the transaction of every identity or permission change: processes reload their
# identity snapshot when it differs from the one they hold.
auth_state = Table(
    "auth_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("address", String(64)),
    Column("action", String(64), nullable=False),
    Column("target", String(512)),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text),
    Column("detail", JSON),
)
Index("ix_audit_events_at", audit_events.c.at)
Index("ix_audit_events_actor", audit_events.c.actor)
Index("ix_audit_events_action", audit_events.c.action)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Properties: multi-valued key/values on a manifest row (one repository, one image, one digest);
# they go with the row. System keys (``tidegate.*``) are stored like the others.
properties = Table(
    "properties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(128), nullable=False),
    Column("value", Text, nullable=False),
)
Index("ix_properties_manifest_id", properties.c.manifest_id)
Index("ix_properties_key", properties.c.key)

# Promotion records name repositories and images by key, not by row: lineage outlives cleanup.
promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("source", String(64), nullable=False),
    Column("image", IMAGE, nullable=False),
    Column("target", String(64), nullable=False),
    Column("target_image", IMAGE, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("tag", String(128)),
    Column("target_tag", String(128)),
    Column("mode", String(8), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("evaluation", JSON, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
)
Index("ix_promotions_digest", promotions.c.digest)

# The transactional outbox: events written with the change that caused them; delivery
# (webhooks, email) reads them later.
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("type", String(64), nullable=False),
    Column("subject", String(512), nullable=False),
    Column("data", JSON, nullable=False),
    sqlite_autoincrement=True,
)

# Remote repositories (pull-through caches). Cached content itself lives in the rows above
# (manifests, tags, repository_blobs of the remote repository); these tables hold freshness,
# the negative cache, the cross-process fetch leases and the upstream credentials. Times are
# seconds since the epoch (float): compared with ``time.time()`` on every database alike.
remote_tag_checks = Table(
    "remote_tag_checks",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("image", IMAGE, primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("checked_at", Float, nullable=False),
)

remote_negative = Table(
    "remote_negative",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("image", IMAGE, primary_key=True),
    Column("reference", DIGEST, primary_key=True),
    Column("expires_at", Float, nullable=False),
)

# One row per upstream fetch in flight in the deployment: whoever inserts it fetches; the
# others wait (and tail ``upload_id``'s staging file when they share the storage).
remote_leases = Table(
    "remote_leases",
    metadata,
    Column("key", String(600), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("upload_id", String(32)),
    Column("size", BigInteger),
    Column("expires_at", Float, nullable=False),
)

# Secrets of a repository (the upstream password): never in ``repositories.options``, which
# every view shows.
repository_secrets = Table(
    "repository_secrets",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- lifecycle: trash, cleanup plans, retention schedules (docs/lifecycle.md) --------------

# A deleted manifest (``kind`` "manifest": its row, tags and properties as they were) or a
# deleted tag (``kind`` "tag": ``tags`` holds the one tag, ``digest`` what it pointed at).
# ``manifest_contents`` keeps the bytes while an entry names the digest; garbage collection
# treats ``trash_references`` as live until the entry is purged (``expires_at``).
trash = Table(
    "trash",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False),
    Column("image", IMAGE, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("media_type", String(255)),
    Column("artifact_type", String(255)),
    Column("subject", DIGEST),
    Column("size", Integer),
    Column("annotations", JSON),
    Column("pushed_by", String(255)),
    Column("created_at", DateTime(timezone=True)),
    Column("tags", JSON, nullable=False),
    Column("properties", JSON, nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("deleted_by", String(128), nullable=False),
    Column("reason", Text),
    Column("plan_id", String(32)),
    sqlite_autoincrement=True,
)
Index("ix_trash_repository_id_image", trash.c.repository_id, trash.c.image)
Index("ix_trash_expires_at", trash.c.expires_at)
Index("ix_trash_digest", trash.c.digest)

trash_references = Table(
    "trash_references",
    metadata,
    Column("trash_id", ForeignKey("trash.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", DIGEST, primary_key=True),
    Column("kind", String(16), primary_key=True),  # "blob" | "manifest"
)
Index("ix_trash_references_digest", trash_references.c.digest)

# A stored cleanup plan: exactly what ``apply`` may do (``items``, each with the state it had
# when planned) and what the policy selected but safety refused (``refused``).
cleanup_plans = Table(
    "cleanup_plans",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("repository", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("policy", JSON, nullable=False),
    Column("items", JSON, nullable=False),
    Column("refused", JSON, nullable=False),
    Column("state", String(16), nullable=False),  # planned | applying | applied
    Column("applied_at", DateTime(timezone=True)),
    Column("applied_by", String(128)),
    Column("result", JSON),
)
Index("ix_cleanup_plans_repository", cleanup_plans.c.repository)

# When each repository's scheduled retention last ran (seconds since the epoch, as in the
# remote tables): whoever moves ``last_run`` forward from the value it read runs it.
retention_runs = Table(
    "retention_runs",
    metadata,
    Column("repository_id", ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True),
    Column("last_run", Float, nullable=False),
    Column("plan_id", String(32)),
    Column("result", JSON),
)

# Event delivery (docs/events.md). Subscriptions: webhooks (a URL) and email notifications (a
# group). ``repositories`` empty means every repository. The fan-out turns each outbox row
# (``events``) past ``event_cursor`` into one ``deliveries`` row per matching subscription;
# workers in every process claim due deliveries with a lease (``lease_until``), so each is
# sent by one of them. Times are seconds since the epoch (float), like the remote tables.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),
    Column("repositories", JSON, nullable=False),
    Column("secret", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("description", Text),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("group_name", String(128), nullable=False),
    Column("events", JSON, nullable=False),
    Column("repositories", JSON, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("webhook_id", ForeignKey("webhooks.id", ondelete="CASCADE")),
    Column("notification_id", ForeignKey("notifications.id", ondelete="CASCADE")),
    Column("state", String(16), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float),
    Column("lease_holder", String(64)),
    Column("lease_until", Float),
    Column("response_code", Integer),
    Column("duration_ms", Float),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("last_attempt_at", Float),
    sqlite_autoincrement=True,
)
Index("ix_deliveries_state_next_attempt_at", deliveries.c.state, deliveries.c.next_attempt_at)
Index("ix_deliveries_webhook_id", deliveries.c.webhook_id)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "delivery_id", ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("at", Float, nullable=False),
    Column("outcome", String(16), nullable=False),  # succeeded | failed
    Column("response_code", Integer),
    Column("duration_ms", Float, nullable=False),
    Column("error", Text),
    Column("redelivery", Boolean, nullable=False),
    sqlite_autoincrement=True,
)

event_cursor = Table(
    "event_cursor",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_id", Integer, nullable=False),
)

# Long work as jobs (services/jobs.py): state and progress a client polls.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # queued | running | succeeded | failed
    Column("params", JSON, nullable=False),
    Column("progress", JSON, nullable=False),
    Column("result", JSON),
    Column("error", Text),
    Column("actor", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("heartbeat", Float, nullable=False),  # epoch seconds of the runner's last sign
)
Index("ix_jobs_kind_created_at", jobs.c.kind, jobs.c.created_at)

# One holder per resource in the deployment (the GC): taken by INSERT, taken over once expired.
job_leases = Table(
    "job_leases",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("job_id", String(32)),
    Column("expires_at", Float, nullable=False),
)

# When each periodic task is next due; a worker claims a run by moving it forward.
job_schedules = Table(
    "job_schedules",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("next_run_at", Float, nullable=False),
)
