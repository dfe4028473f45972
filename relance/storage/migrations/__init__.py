"""Alembic's migration environment for the application database, shipped inside the
package so an installed Relance can migrate its own database (relance/storage/migrate.py
drives it; no alembic.ini is needed at runtime)."""
