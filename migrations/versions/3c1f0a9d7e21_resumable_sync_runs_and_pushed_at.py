"""resumable sync runs (cursor, steps) and product_bindings.pushed_at

Revision ID: 3c1f0a9d7e21
Revises: 095ec5ae00f2
Create Date: 2026-11-29 07:45:00

"""

import sqlalchemy as sa
from alembic import op

import portal.models

revision = "3c1f0a9d7e21"
down_revision = "095ec5ae00f2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("cursor", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("steps", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("product_bindings") as batch:
        batch.add_column(
            sa.Column("pushed_at", portal.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("product_bindings") as batch:
        batch.drop_column("pushed_at")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("steps")
        batch.drop_column("cursor")
