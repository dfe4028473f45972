"""When customer-level notices (card expiring, trial ending) go out, from the settings."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from relance.contracts.kinds import EmailKind
from relance.contracts.models import NoticeTime, NoticeTimeRequest
from relance.rendering.context import time_zone_for
from relance.rules.schedule import card_notice, trial_notice
from relance.storage.customers import get_customer
from relance.storage.database import session_scope
from relance.storage.settings_store import load_settings


class NoticeActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn
    def notice_time(self, req: NoticeTimeRequest) -> NoticeTime:
        with session_scope(self.engine) as session:
            settings, _ = load_settings(session)
            tz = time_zone_for(settings, get_customer(session, req.customer_id))
        if req.kind == EmailKind.card_expiring:
            assert req.card_exp_month and req.card_exp_year
            at, expires = card_notice(
                req.card_exp_month,
                req.card_exp_year,
                settings.card_expiring_days_before_month_end,
                tz,
                settings.send_hour,
                settings.send_minute,
            )
        else:
            at, expires = trial_notice(
                req.reference, settings.trial_ending_days_before, tz, settings.send_hour, settings.send_minute
            )
        return NoticeTime(at=at, expires_at=expires)
