"""tags by digest: an index for the join from a manifest to its tags

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:12:00

Search joins every manifest to its tags on (repository, image, digest); with only the primary
key (repository, image, name), each manifest scanned every tag of its image, so deep pages
of a large listing took seconds.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tags_digest", "tags", ["repository_id", "image", "digest"])


def downgrade() -> None:
    op.drop_index("ix_tags_digest", table_name="tags")
