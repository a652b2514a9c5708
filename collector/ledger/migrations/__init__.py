"""Alembic migrations of the collector's ledger, run programmatically at start."""
