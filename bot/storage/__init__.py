"""Storage: one SQLite database, versioned migrations, and small repositories."""

from bot.storage.database import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
