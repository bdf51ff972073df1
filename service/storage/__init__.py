"""Durable storage: SQLAlchemy 2 tables, Alembic migrations, one engine per process.

SQLite is the embedded default (a file under ``TRIAGE_DATA_DIR``, WAL, a busy timeout);
PostgreSQL is one ``TRIAGE_DATABASE_URL`` away. Queries live in the domain packages'
``repository`` modules; this package owns the schema, the engine and the migrations.
"""
