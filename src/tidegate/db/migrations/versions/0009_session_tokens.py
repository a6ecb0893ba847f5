"""session tokens: an access token may end when its owner's password changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 23:00:00

The web UI's sign-in makes an access token per session; ``password_mark`` (the owner's password
fingerprint when it was made) ends it when the password changes, as registry sessions end.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_tokens", sa.Column("password_mark", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("access_tokens") as batch:
        batch.drop_column("password_mark")
