"""The job row is its own outbox record (one INSERT per submission instead of a transaction of two);
job indexes for the tenant quota count and the retention sweep.

Jobs whose outbox message was already published are marked dispatched; those still waiting keep
`dispatched_at` empty, so the relay publishes them. The outbox table is then dropped.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dispatch_lease_until", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE jobs SET dispatched_at = created_at WHERE id NOT IN "
               "(SELECT key FROM outbox WHERE published_at IS NULL AND key IS NOT NULL)")
    op.create_index("ix_jobs_undispatched", "jobs", ["id"], postgresql_where=sa.text("dispatched_at IS NULL"),
                    sqlite_where=sa.text("dispatched_at IS NULL"))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))
    op.drop_table("outbox")
    op.drop_index("ix_jobs_status_created", table_name="jobs")
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant_id", "status"])
    op.create_index("ix_jobs_purged_created", "jobs", ["purged_at", "created_at"])


def downgrade() -> None:
    op.create_table("outbox",
                    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column("topic", sa.String(length=200), nullable=False),
                    sa.Column("key", sa.String(length=200), nullable=True),
                    sa.Column("payload", sa.Text(), nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
                    sa.PrimaryKeyConstraint("id"))
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.drop_index("ix_jobs_purged_created", table_name="jobs")
    op.drop_index("ix_jobs_tenant_status", table_name="jobs")
    op.create_index("ix_jobs_status_created", "jobs", ["status", "created_at"])
    op.drop_index("ix_jobs_undispatched", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("dispatch_lease_until")
        batch_op.drop_column("dispatched_at")
