"""Use cases the API, CLI and dashboard share: account settings, sender domain, templates, preview."""
