"""What the reminders recovered: the shapes of the recovery report (GET /v1/analytics/recovery,
the dashboard's Recovery page and the Prometheus series), built by relance.services.recovery.

Amounts are integers in the currency's minor units and are never added across currencies:
every tally belongs to one (month, currency) row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

StepKind = Literal["invoice_email", "reminder", "manual_reminder", "payment_failed", "payment_action_required", "none"]


class Step(BaseModel):
    """The email that came last before a payment."""

    model_config = ConfigDict(frozen=True)

    kind: StepKind
    days_from_due: int | None = Field(default=None, description="A scheduled reminder's offset from the due date.")
    attempt: int | None = Field(default=None, description="A failed-payment notice's attempt number (1 = first).")

    @property
    def key(self) -> str:
        """Stable and short: `reminder:+3`, `payment_failed:1`, `invoice_email`, `none`."""
        if self.kind == "reminder":
            return f"reminder:{self.days_from_due:+d}"
        if self.kind == "payment_failed":
            return f"payment_failed:{self.attempt}" if self.attempt is not None else "payment_failed"
        return self.kind

    @property
    def label(self) -> str:
        if self.kind == "reminder":
            d = self.days_from_due or 0
            if d == 0:
                return "reminder on the due date"
            return f"reminder {d:+d} day{'s' if abs(d) != 1 else ''}"
        if self.kind == "payment_failed":
            return f"failed-payment notice {self.attempt}" if self.attempt is not None else "failed-payment notice"
        return STEP_LABELS[self.kind]


STEP_LABELS: dict[str, str] = {
    "invoice_email": "invoice email",
    "manual_reminder": "manual reminder",
    "payment_action_required": "3D Secure email",
    "none": "no email",
}


class Tally(BaseModel):
    count: int = 0
    amount: int = Field(default=0, description="Minor units of the row's currency.")


class StepTally(BaseModel):
    key: str = Field(description="`invoice_email`, `reminder:+3`, `manual_reminder`, `payment_failed:1`, ...")
    label: str
    step: Step
    count: int
    amount: int
    median_hours_from_step: float | None = Field(
        description="Median time from the step's email to the payment, in hours (none for `none`)."
    )


class DaysToPay(BaseModel):
    """Days from finalization to payment, over the row's paid invoices (nearest-rank)."""

    p50: float | None = None
    p90: float | None = None


class MonthRecovery(BaseModel):
    month: str = Field(description="YYYY-MM of the invoices' finalization, in UTC.")
    currency: str
    invoiced: Tally = Field(description="Invoices finalized that month (amount_due).")
    paid: Tally = Field(description="Of them, paid by now (amount_paid).")
    paid_before_due: Tally = Field(description="Paid on or before their due date (invoices with one).")
    paid_after_step: list[StepTally] = Field(description="Paid invoices by the email that came last before payment.")
    failed: Tally = Field(description="Invoices with at least one failed payment attempt (amount_due).")
    recovered_after_failure: Tally = Field(description="Paid after at least one failed attempt (amount_paid).")
    recovered_by_retry_alone: Tally = Field(
        description="Of those, paid with no email sent between the last failed attempt and the payment."
    )
    recovery_rate: float | None = Field(
        description="Amount recovered after a failure over the amount that failed (none when nothing failed)."
    )
    open: Tally = Field(description="Still open (amount_remaining).")
    void: Tally = Field(description="Voided (amount_remaining).")
    uncollectible: Tally = Field(description="Marked uncollectible and not paid since (amount_remaining).")
    days_to_pay: DaysToPay


class PaidInvoice(BaseModel):
    invoice_id: str
    customer_id: str
    currency: str
    amount: int
    finalized_at: datetime
    due_date: datetime | None
    paid_at: datetime
    step: Step
    step_key: str
    step_at: datetime | None = Field(description="When the step's email was sent (the workflow's clock).")
    seconds_from_step: int | None
    payment_failures: int
    by_retry_alone: bool


class RecoveryReport(BaseModel):
    from_date: date = Field(serialization_alias="from", description="First day of finalization included (UTC).")
    to_date: date = Field(serialization_alias="to", description="Last day of finalization included (UTC).")
    currency: str | None
    months: list[MonthRecovery]
    payments: list[PaidInvoice] | None = Field(
        default=None, description="With `payments=true`: each paid invoice's step, newest payment first."
    )
