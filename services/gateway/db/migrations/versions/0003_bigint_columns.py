"""Integers that outgrow 32 bits become BIGINT on PostgreSQL: `virtual_models.seed` (the generator draws
seeds up to 2**32 - 1, so accepting about half of all random candidates failed with "value out of int32
range") and the ids of the append-only `job_events` and `webhook_attempts` tables, with their sequences
(a SERIAL's sequence is itself `AS integer` and stops at 2**31 - 1).

SQLite stores every integer in 64 bits already, and only `INTEGER PRIMARY KEY` is its autoincrementing
rowid, so nothing changes there.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, column, sequence or None)
WIDENED = [("virtual_models", "seed", None), ("job_events", "id", "job_events_id_seq"),
           ("webhook_attempts", "id", "webhook_attempts_id_seq")]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, sequence in WIDENED:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BIGINT")
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS BIGINT")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, sequence in WIDENED:
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS INTEGER")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE INTEGER")
