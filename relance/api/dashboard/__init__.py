"""The ops dashboard: server-rendered HTML pages on the API's own app, under /dashboard.

Same services as the JSON API and the CLI (account, templates, the email log, the
reminder request), same key: an operator logs in with RELANCE_API_KEY once and gets a
session cookie, so the key itself never sits in the browser (see `sessions`).

One module per page group (`login`, `customers`, `invoices`, `emails`, `recovery`, `settings`,
`templates`),
each with its own router; `pages` holds what they share (templates in
dashboard_templates/, security headers) and `deps` the session and CSRF checks."""

from __future__ import annotations

from fastapi import APIRouter

from relance.api.dashboard import customers, emails, invoices, login, recovery, settings, templates

router = APIRouter()
for _group in (login, customers, invoices, emails, recovery, settings, templates):
    router.include_router(_group.router)

__all__ = ["router"]
