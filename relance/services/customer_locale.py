"""The language a customer's emails go out in, and one log line per customer (per
process) when none of their preferred locales is shipped and the default stands in.

The answer is the customer's own tag (`fr-BE`), which rendering uses for formats, and
from which it picks the catalog (`fr`) for words."""

from __future__ import annotations

import logging
import threading

from relance.contracts.account import AccountSettings
from relance.rendering.i18n import choose_locale
from relance.storage.tables import CustomerRecord

log = logging.getLogger("relance.delivery")

# Customers already told about: a fallback is worth one line, not one per email.
_logged: set[str] = set()
_lock = threading.Lock()


def locale_for(customer: CustomerRecord | None, settings: AccountSettings) -> str:
    preferred = list(customer.preferred_locales) if customer else []
    choice = choose_locale(preferred, settings.default_locale)
    locale = choice.tag
    if customer is not None and preferred and not choice.matched:
        with _lock:
            first = customer.id not in _logged
            _logged.add(customer.id)
        if first:
            log.info(
                "customer %s prefers %s, which Relance does not ship; their emails go out in %s",
                customer.id,
                ", ".join(preferred),
                locale,
                extra={"customer_id": customer.id, "locale": locale},
            )
    return locale
