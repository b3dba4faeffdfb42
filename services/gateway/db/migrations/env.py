"""Alembic environment: the gateway runs migrations itself at start, on a connection it passes in."""
from alembic import context

from services.gateway.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
