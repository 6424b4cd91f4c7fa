"""merchants.bc_multi_storefront (GET /v2/store features.multi_storefront_enabled)

Revision ID: 7d2e9b4c1a60
Revises: 3c1f0a9d7e21
Create Date: 2026-11-29 11:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "7d2e9b4c1a60"
down_revision = "3c1f0a9d7e21"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(sa.Column("bc_multi_storefront", sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("bc_multi_storefront")
