"""The store: engine and sessions (SQLite or PostgreSQL), tables, Alembic migrations and
article persistence. Imports nothing of the app but core.
"""
