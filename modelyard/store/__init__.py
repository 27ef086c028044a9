"""Storage: SQLAlchemy Core over SQLite (embedded default) and PostgreSQL (psycopg 3)."""
