"""Why a job left something alone: ids by reason, counted in the job's summary line and named
one line per reason with ``--verbose`` (docs/jobs.md). Ids only, never names or patient data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from communication_service.config import Settings
from communication_service.errors import ApiError

# The reasons in the words of a summary line; a booking's reason is its 409's ``details.cause``
# (``scheduling.py``), or its code when it has none.
REASON_TEXT = {
    "not_active": "not active",
    "cooling_period": "cooling period",
    "contacted_within_interval": "contacted within {contact_interval_days} days",
    "absent": "absent",
    "call_pending": "call pending",
    "patient_placed": "patient placed elsewhere",
    "answered_meanwhile": "answered meanwhile",
    "no_request_due": "no request due yet",
    "requests_on_call": "requests already on a call",
    "no_telephone_hours": "no telephone hours",
    "holidays": "only public holidays",
    "windows_too_short": "windows too short",
    "all_windows_full": "all windows full",
}


def reason_text(reason: str, settings: Settings) -> str:
    text = REASON_TEXT.get(reason, reason.replace("_", " "))
    return text.format(contact_interval_days=settings.contact_interval_days)


def booking_reason(error: ApiError) -> str:
    """Why a call was not booked: the cause the 409 names, else its code."""
    return str(error.details.get("cause") or error.code)


@dataclass
class Tally:
    """Ids of one kind (``therapists``, ``emails``) by the reason they were left alone."""

    kind: str
    ids: dict[str, list[int]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, item_ids: Iterable[int], settings: Settings) -> None:
        self.ids.setdefault(reason, []).extend(item_ids)
        self.texts[reason] = reason_text(reason, settings)

    def total(self) -> int:
        return sum(len(ids) for ids in self.ids.values())

    def counts(self) -> dict[str, int]:
        return {reason: len(ids) for reason, ids in self.ids.items()}

    def _by_count(self) -> list[str]:
        return sorted(self.ids, key=lambda reason: (-len(self.ids[reason]), self.texts[reason]))

    def describe(self) -> str:
        """``3 contacted within 7 days, 2 cooling period``: the most frequent reason first."""
        return ", ".join(f"{len(self.ids[r])} {self.texts[r]}" for r in self._by_count())

    def clause(self, what: str) -> str:
        """``; 6 therapists skipped (3 contacted within 7 days, …)``; empty when nothing was."""
        if not self.total():
            return ""
        return f"; {self.total()} {what} ({self.describe()})"

    def lines(self, heading: str) -> list[str]:
        """One line per reason naming the ids (``--verbose``)."""
        return [
            f"{heading}, {self.texts[reason]}: {self.kind} "
            + ", ".join(str(i) for i in sorted(self.ids[reason]))
            for reason in self._by_count()
        ]
