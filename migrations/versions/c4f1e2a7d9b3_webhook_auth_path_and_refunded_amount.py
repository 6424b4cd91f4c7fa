"""webhook auth path and storefront channels per merchant, refunded amount per order

Revision ID: c4f1e2a7d9b3
Revises: c4d1a7e90b52
Create Date: 2026-11-29 07:50:00

"""

import sqlalchemy as sa
from alembic import op

import portal.models

# revision identifiers, used by Alembic.
revision = "c4f1e2a7d9b3"
down_revision = "c4d1a7e90b52"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(sa.Column("webhook_auth_path", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("webhook_header_names", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("webhook_auth_seen_at", portal.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("bc_channel_ids", sa.JSON(), nullable=False, server_default="[1]")
        )
    with op.batch_alter_table("imported_orders") as batch:
        batch.add_column(sa.Column("refunded_amount", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("imported_orders") as batch:
        batch.drop_column("refunded_amount")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("bc_channel_ids")
        batch.drop_column("webhook_auth_seen_at")
        batch.drop_column("webhook_header_names")
        batch.drop_column("webhook_auth_path")
