"""Storage: SQLite (embedded, the default) or PostgreSQL, chosen by the `database` setting
(`database_for`), versioned migrations per dialect, and small repositories."""

from bot.storage.database import Database, DatabaseError, StorageUnavailable, database_for, open_database

__all__ = ["Database", "DatabaseError", "StorageUnavailable", "database_for", "open_database"]
