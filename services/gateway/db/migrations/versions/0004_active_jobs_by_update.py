"""An index for the stalled-job watchdog: queued and running jobs by their last change, so the check that
fails jobs without progress past FACECAST_JOB_DEADLINE_S (every minute, on every gateway) reads only the
unfinished jobs instead of scanning the table.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_index("ix_jobs_active_updated", "jobs", ["updated_at"], postgresql_where=ACTIVE, sqlite_where=ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_jobs_active_updated", table_name="jobs")
