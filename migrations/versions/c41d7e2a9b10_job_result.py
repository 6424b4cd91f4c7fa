"""job records keep the job's result

Revision ID: c41d7e2a9b10
Revises: c4f1e2a7d9b3
Create Date: 2026-11-29 07:55:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c41d7e2a9b10"
down_revision = "c4f1e2a7d9b3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job_records") as batch:
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("job_records") as batch:
        batch.drop_column("result")
