from __future__ import annotations

import sqlalchemy as sa

from communication_service.models import Patient, PlacementRequest, Therapist


def counts(session) -> tuple[int, int, int]:
    return tuple(
        session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
        for m in (Therapist, Patient, PlacementRequest)
    )


def test_demo_data_is_realistic_and_idempotent(app, session):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["comm", "demo-data"])
    assert first.exit_code == 0, first.output
    after_first = counts(session)
    second = runner.invoke(args=["comm", "demo-data"])
    assert second.exit_code == 0
    assert counts(session) == after_first
    therapists = session.scalars(sa.select(Therapist)).all()
    assert any(t.email is None for t in therapists)
    assert any(t.potentially_available for t in therapists)
    assert any(t.status == "blocked" for t in therapists)
    assert len({str(t.telefonische_erreichbarkeit) for t in therapists}) >= 4
    assert all(p.startdatum for p in session.scalars(sa.select(Patient)))
    # Written as the platform's services write them: enum names, status and date always set.
    for table in (
        "therapist_service.therapists",
        "patient_service.patients",
        "matching_service.placement_requests",
    ):
        labels = (
            session.execute(
                sa.text(f"SELECT DISTINCT status::text FROM {table} WHERE created_at IS NOT NULL")
            )
            .scalars()
            .all()
        )
        assert labels and all(label == label.upper() for label in labels), (table, labels)
        assert (
            session.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE status IS NULL OR created_at IS NULL")
            ).scalar_one()
            == 0
        )
    assert session.scalars(
        sa.select(PlacementRequest).where(PlacementRequest.status == "open")
    ).first()
    # New rows after the fixed ids get fresh ids (the sequences moved past them).
    new_id = session.execute(
        sa.insert(Therapist.__table__)
        .values(vorname="Nina", nachname="Neu", status="active")
        .returning(Therapist.id)
    ).scalar_one()
    assert new_id > max(t.id for t in therapists)


def test_new_token_prints_a_token(app):
    result = app.test_cli_runner().invoke(args=["comm", "new-token"])
    assert result.exit_code == 0 and len(result.output.strip()) >= 32
