"""lifecycle (cleanup): trash, cleanup plans, scheduled retention runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:50:00

Deleted manifests and tags go to ``trash`` (with ``trash_references``, a copy of the manifest's
references, which garbage collection counts as live) until they expire; cleanup plans are
stored with the state of each item at planning time; ``retention_runs`` remembers when a
repository's scheduled policy last ran.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _repository_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["repository_id"],
        ["repositories.id"],
        name=op.f(f"fk_{table}_repository_id_repositories"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "trash",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("media_type", sa.String(length=255)),
        sa.Column("artifact_type", sa.String(length=255)),
        sa.Column("subject", sa.String(length=160)),
        sa.Column("size", sa.Integer()),
        sa.Column("annotations", sa.JSON()),
        sa.Column("pushed_by", sa.String(length=255)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("plan_id", sa.String(length=32)),
        _repository_fk("trash"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trash")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_trash_repository_id_image", "trash", ["repository_id", "image"])
    op.create_index("ix_trash_expires_at", "trash", ["expires_at"])
    op.create_index("ix_trash_digest", "trash", ["digest"])
    op.create_table(
        "trash_references",
        sa.Column("trash_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["trash_id"],
            ["trash.id"],
            name=op.f("fk_trash_references_trash_id_trash"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trash_id", "digest", "kind", name=op.f("pk_trash_references")),
    )
    op.create_index("ix_trash_references_digest", "trash_references", ["digest"])
    op.create_table(
        "cleanup_plans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("repository", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("refused", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True)),
        sa.Column("applied_by", sa.String(length=128)),
        sa.Column("result", sa.JSON()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleanup_plans")),
    )
    op.create_index("ix_cleanup_plans_repository", "cleanup_plans", ["repository"])
    op.create_table(
        "retention_runs",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("last_run", sa.Float(), nullable=False),
        sa.Column("plan_id", sa.String(length=32)),
        sa.Column("result", sa.JSON()),
        _repository_fk("retention_runs"),
        sa.PrimaryKeyConstraint("repository_id", name=op.f("pk_retention_runs")),
    )


def downgrade() -> None:
    for table in ("retention_runs", "cleanup_plans", "trash_references", "trash"):
        op.drop_table(table)
