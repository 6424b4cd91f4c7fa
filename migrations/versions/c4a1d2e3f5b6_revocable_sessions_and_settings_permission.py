"""revocable staff sessions and the merchant users allowed to change settings

Revision ID: c4a1d2e3f5b6
Revises: be834fcaeabf
Create Date: 2026-11-29 07:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "c4a1d2e3f5b6"
down_revision = "be834fcaeabf"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("merchant_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "may_change_settings", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )


def downgrade():
    with op.batch_alter_table("merchant_users", schema=None) as batch_op:
        batch_op.drop_column("may_change_settings")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
