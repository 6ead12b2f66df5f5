"""Alembic migrations of mallcast's schema (shipped with the package so `serve` can migrate)."""
