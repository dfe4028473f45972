"""Temporal workflows: deterministic, thin, every side effect in an activity.

Modules here import models and activity references only, passed through the sandbox."""
