"""Alembic migrations of the case store (a package so the installed distribution ships them)."""
