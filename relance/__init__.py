"""Relance: billing emails and dunning on Temporal.

This package holds what the design card's top-level folders share: configuration,
the typed models that cross workflow/activity boundaries, the database tables, the
client a backend uses to hand events over, and the command line.
"""
