"""Temporal activities: every side effect of Relance (database, rendering, PDFs, delivery)."""
