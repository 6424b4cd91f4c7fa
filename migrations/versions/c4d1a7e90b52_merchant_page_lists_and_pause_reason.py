"""merchant page: pause reason, stored category labels and store location lists

Revision ID: c4d1a7e90b52
Revises: c4a1d2e3f5b6
Create Date: 2026-11-29 07:40:00.000000

"""

from alembic import op
import sqlalchemy as sa

import portal.models


# revision identifiers, used by Alembic.
revision = "c4d1a7e90b52"
down_revision = "c4a1d2e3f5b6"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "categories_refreshed_at",
                portal.models.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("known_locations", sa.JSON(), nullable=True))
    with op.batch_alter_table("category_cache", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=512), nullable=True))


def downgrade():
    with op.batch_alter_table("category_cache", schema=None) as batch_op:
        batch_op.drop_column("label")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("known_locations")
        batch_op.drop_column("categories_refreshed_at")
        batch_op.drop_column("pause_reason")
