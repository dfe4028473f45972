"""Test helpers other test modules import: an SMTP sink and a fake SendGrid API."""
