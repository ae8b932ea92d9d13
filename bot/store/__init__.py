"""SQLite persistence via aiosqlite: schema, migrations and queries."""
