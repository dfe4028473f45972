"""The account's settings: one versioned row, defaults until someone saves."""

from __future__ import annotations

from sqlmodel import Session

from relance.contracts.account import AccountSettings
from relance.storage.tables import SettingsRecord, utcnow


def load_settings(session: Session) -> tuple[AccountSettings, int]:
    row = session.get(SettingsRecord, 1)
    if row is None:
        return AccountSettings(), 0
    return AccountSettings.model_validate(row.data), row.version


def save_settings(session: Session, settings: AccountSettings) -> int:
    row = session.get(SettingsRecord, 1)
    data = settings.model_dump(mode="json")
    if row is None:
        row = SettingsRecord(id=1, version=1, data=data)
        session.add(row)
    else:
        row.data = data
        row.version += 1
        row.updated_at = utcnow()
    session.flush()
    return row.version
