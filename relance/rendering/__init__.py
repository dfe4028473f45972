"""Templates to bytes: the Jinja environments, email and PDF renderers, i18n and formatting, custom templates."""
