"""Providers' signed webhooks in (Stripe's events, SendGrid's delivery reports): verified
by their own signatures, not the API key."""
