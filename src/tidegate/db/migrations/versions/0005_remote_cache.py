"""remote cache: tag freshness, negative cache, fetch leases, repository secrets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 19:40:00

Remote repositories (pull-through caches) keep their content in the ordinary rows of the
remote repository; these tables add what a cache needs besides: when a cached tag was last
checked upstream, which references the upstream said it does not know (until when), which
fetches are in flight somewhere in the deployment, and the upstream password (kept out of
``repositories.options``, which the API shows).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
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
        "remote_tag_checks",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("checked_at", sa.Float(), nullable=False),
        _repository_fk("remote_tag_checks"),
        sa.PrimaryKeyConstraint("repository_id", "image", "tag", name=op.f("pk_remote_tag_checks")),
    )
    op.create_table(
        "remote_negative",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(length=255), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        _repository_fk("remote_negative"),
        sa.PrimaryKeyConstraint(
            "repository_id", "image", "reference", name=op.f("pk_remote_negative")
        ),
    )
    op.create_table(
        "remote_leases",
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("upload_id", sa.String(length=32)),
        sa.Column("size", sa.BigInteger()),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_remote_leases")),
    )
    op.create_table(
        "repository_secrets",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _repository_fk("repository_secrets"),
        sa.PrimaryKeyConstraint("repository_id", "name", name=op.f("pk_repository_secrets")),
    )


def downgrade() -> None:
    for table in ("repository_secrets", "remote_leases", "remote_negative", "remote_tag_checks"):
        op.drop_table(table)
