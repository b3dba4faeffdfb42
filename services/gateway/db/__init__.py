"""The gateway's database: SQLAlchemy 2 models, async sessions, Alembic migrations (SQLite and PostgreSQL)."""
