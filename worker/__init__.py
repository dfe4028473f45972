"""The Relance worker: every workflow and activity on one task queue."""
