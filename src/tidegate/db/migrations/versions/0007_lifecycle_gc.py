"""lifecycle (gc half): jobs, resource leases, schedules

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04 17:00:00

Long work (garbage collection, and at merge the scheduled cleanups) runs as a job: a row a
client polls for state and progress. ``job_leases`` make a kind of work run once at a time in
the whole deployment (whoever holds the lease runs; it expires when its holder stops renewing
it); ``job_schedules`` hold when a periodic task is next due, claimed by one conditional
UPDATE so every worker may run the scheduler and each due run still happens once.

Re-chained after 0006 (the cleanup half) at merge.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("heartbeat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_kind_created_at"), "jobs", ["kind", "created_at"])
    op.create_table(
        "job_leases",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32)),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_job_leases")),
    )
    op.create_table(
        "job_schedules",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("next_run_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_schedules")),
    )
    # the GC's anti-joins: links by age, blobs by age
    op.create_index(op.f("ix_blobs_created_at"), "blobs", ["created_at"])
    op.create_index(op.f("ix_manifests_digest"), "manifests", ["digest"])


def downgrade() -> None:
    op.drop_index(op.f("ix_manifests_digest"), table_name="manifests")
    op.drop_index(op.f("ix_blobs_created_at"), table_name="blobs")
    op.drop_table("job_schedules")
    op.drop_table("job_leases")
    op.drop_index(op.f("ix_jobs_kind_created_at"), table_name="jobs")
    op.drop_table("jobs")
