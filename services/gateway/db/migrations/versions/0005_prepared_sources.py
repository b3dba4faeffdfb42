"""A virtual model's prepared source (issue 13/15): the swapper's `prepare` step output, kept with the model so
every swap reuses it. Models made before have none; their swaps prepare the portrait on the fly.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("virtual_models", sa.Column("prepared_source", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("virtual_models") as batch:
        batch.drop_column("prepared_source")
