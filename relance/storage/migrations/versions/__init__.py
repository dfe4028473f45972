"""Revisions, oldest first (0001 is the schema as it was before Alembic). Alembic skips
this file; it exists so setuptools ships the revisions as package modules."""
