"""``run-daily``: batch-emails, send-emails and schedule-follow-ups, in this order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from communication_service.clock import local_now
from communication_service.context import Context
from communication_service.services import contact_rules as rules
from communication_service.services.batching import BatchResult, batch_emails
from communication_service.services.follow_ups import FollowUpResult, schedule_follow_ups
from communication_service.services.sending import SendResult, send_emails

Progress = Callable[[int, int], None]


@dataclass
class DailyResult:
    batch: BatchResult
    send: SendResult
    follow_ups: FollowUpResult
    overdue_calls: int = 0  # still scheduled after their end: staff should close them

    @property
    def ok(self) -> bool:
        return not self.send.smtp_unavailable

    def summary(self) -> str:
        parts = (self.batch.summary(), self.send.summary(), self.follow_ups.summary())
        overdue = f"{self.overdue_calls} overdue calls not closed"
        return "run-daily: " + " | ".join(parts) + " | " + overdue

    def details(self) -> list[str]:
        """The ids behind the summaries' reasons (``--verbose``), job by job."""
        return [*self.batch.details(), *self.send.details(), *self.follow_ups.details()]


def run_daily(
    ctx: Context,
    *,
    progress: Callable[[str], Progress | None] = lambda job: None,
) -> DailyResult:
    """The three jobs in order; an unreachable SMTP server does not stop the follow-ups
    (those emails stay queued and are not due for a follow-up, which needs a sent email)."""
    batch = batch_emails(ctx, progress=progress("batch-emails"))
    send = send_emails(ctx, progress=progress("send-emails"))
    follow_ups = schedule_follow_ups(ctx, progress=progress("schedule-follow-ups"))
    return DailyResult(batch, send, follow_ups, count_overdue_calls(ctx))


def count_overdue_calls(ctx: Context) -> int:
    """Calls still scheduled after their end (``contact_rules.call_is_overdue``)."""
    overdue = rules.call_is_overdue(local_now(ctx.clock))
    counted = ctx.session.execute(
        sa.select(sa.func.count()).select_from(rules.phone_calls).where(overdue)
    ).scalar_one()
    ctx.session.commit()
    return counted
