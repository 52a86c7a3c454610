"""``communication_service.therapist_absences``: the days a therapist is away (holiday,
illness, parental leave), on which nothing is planned automatically (docs/rules.md rule 13)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from communication_service.extensions import db
from communication_service.models.base import created_at_column

# The longest absence, in days (both ends counted).
MAX_ABSENCE_DAYS = 366
# The days an absence covers, both ends included, as PostgreSQL sees them (the exclusion
# constraint's expression).
ABSENCE_DAYS_SQL = "daterange(starts_on, ends_on, '[]')"


class TherapistAbsence(db.Model):
    __tablename__ = "therapist_absences"
    __table_args__ = (
        # No two absences of one therapist overlap, whoever writes.
        ExcludeConstraint(
            ("therapist_id", "="),
            (sa.text(ABSENCE_DAYS_SQL), "&&"),
            name="therapist_absences_no_overlap",
            using="gist",
        ),
        # "Is the therapist away on day D" (contact_rules.absent_on), asked for every call
        # read and every booking: therapist, then the first absence ending on D or later,
        # whose start is read from the index too. A B-tree probe costs a fraction of one in
        # the exclusion constraint's GiST index.
        sa.Index("idx_therapist_absences_therapist_ends", "therapist_id", "ends_on", "starts_on"),
        sa.CheckConstraint("ends_on >= starts_on", name="therapist_absences_in_order"),
        sa.CheckConstraint(
            f"ends_on - starts_on < {MAX_ABSENCE_DAYS}", name="therapist_absences_at_most_a_year"
        ),
        {"schema": "communication_service"},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    therapist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("therapist_service.therapists.id", ondelete="CASCADE"), nullable=False
    )
    starts_on: Mapped[date] = mapped_column(sa.Date(), nullable=False)
    ends_on: Mapped[date] = mapped_column(sa.Date(), nullable=False)  # inclusive
    note: Mapped[str | None] = mapped_column(sa.Text())
    created_at: Mapped[datetime | None] = created_at_column(nullable=False)

    def __repr__(self) -> str:
        return (
            f"<TherapistAbsence id={self.id} therapist_id={self.therapist_id} "
            f"{self.starts_on}..{self.ends_on}>"
        )
