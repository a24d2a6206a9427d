"""SQL storage: SQLAlchemy Core tables, the unit of work, and Alembic migrations."""
