"""product_bindings.channels_pending: created, not yet assigned to the store's channels

Revision ID: 5b8e1f3c7a24
Revises: 7d2e9b4c1a60
Create Date: 2026-11-29 15:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "5b8e1f3c7a24"
down_revision = "7d2e9b4c1a60"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("product_bindings") as batch:
        batch.add_column(
            sa.Column(
                "channels_pending", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade():
    with op.batch_alter_table("product_bindings") as batch:
        batch.drop_column("channels_pending")
