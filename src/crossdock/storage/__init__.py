"""Implementations of the hub's ports: in-memory twins for tests, SQL (SQLite, PostgreSQL) for real use."""
