"""patient_service.patients, as the platform's revision 2afc91c5b3e8 creates it

The platform's database starts here; this chain's first four revisions build exactly its
schema at 5dfc91e6b6f9 (``tests/platform/schema-at-5dfc91e6b6f9.sql``, checked by
``tests/migrations/test_platform_schema.py``), so an empty database and a real platform
database reach the same state. The platform's init script creates the service schemas
before its chain runs; here the first revision does (IF NOT EXISTS), and downgrades leave
them (they may predate the chain).

The platform's services store their enums' *names* (``OPEN``, ``SEARCHING``, …) and keep no
foreign keys between their tables.

Revision ID: 2afc91c5b3e8
Revises:
Create Date: 2025-05-01 10:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "2afc91c5b3e8"
down_revision = None
branch_labels = None
depends_on = None

SCHEMAS = (
    "communication_service",
    "geocoding_service",
    "matching_service",
    "patient_service",
    "scraping_service",
    "therapist_service",
)
patient_status = postgresql.ENUM(
    "OPEN",
    "SEARCHING",
    "IN_THERAPY",
    "THERAPY_COMPLETED",
    "SEARCH_ABORTED",
    "THERAPY_ABORTED",
    name="patientstatus",
)
gender_preference = postgresql.ENUM("MALE", "FEMALE", "ANY", name="therapistgenderpreference")


def upgrade():
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anrede", sa.String(length=10), nullable=True),
        sa.Column("vorname", sa.String(length=100), nullable=False),
        sa.Column("nachname", sa.String(length=100), nullable=False),
        sa.Column("strasse", sa.String(length=255), nullable=True),
        sa.Column("plz", sa.String(length=10), nullable=True),
        sa.Column("ort", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("telefon", sa.String(length=50), nullable=True),
        sa.Column("hausarzt", sa.String(length=255), nullable=True),
        sa.Column("krankenkasse", sa.String(length=100), nullable=True),
        sa.Column("krankenversicherungsnummer", sa.String(length=50), nullable=True),
        sa.Column("geburtsdatum", sa.Date(), nullable=True),
        sa.Column("diagnose", sa.String(length=50), nullable=True),
        sa.Column("vertraege_unterschrieben", sa.Boolean(), nullable=True),
        sa.Column("psychotherapeutische_sprechstunde", sa.Boolean(), nullable=True),
        sa.Column("startdatum", sa.Date(), nullable=True),
        sa.Column("erster_therapieplatz_am", sa.Date(), nullable=True),
        sa.Column("funktionierender_therapieplatz_am", sa.Date(), nullable=True),
        sa.Column("status", patient_status, nullable=True),
        sa.Column("empfehler_der_unterstuetzung", sa.Text(), nullable=True),
        sa.Column("zeitliche_verfuegbarkeit", postgresql.JSONB(), nullable=True),
        sa.Column("raeumliche_verfuegbarkeit", postgresql.JSONB(), nullable=True),
        sa.Column("verkehrsmittel", sa.String(length=50), nullable=True),
        sa.Column("offen_fuer_gruppentherapie", sa.Boolean(), nullable=True),
        sa.Column("offen_fuer_diga", sa.Boolean(), nullable=True),
        sa.Column("letzter_kontakt", sa.Date(), nullable=True),
        sa.Column("psychotherapieerfahrung", sa.Boolean(), nullable=True),
        sa.Column("stationaere_behandlung", sa.Boolean(), nullable=True),
        sa.Column("berufliche_situation", sa.Text(), nullable=True),
        sa.Column("familienstand", sa.String(length=50), nullable=True),
        sa.Column("aktuelle_psychische_beschwerden", sa.Text(), nullable=True),
        sa.Column("beschwerden_seit", sa.Date(), nullable=True),
        sa.Column("bisherige_behandlungen", sa.Text(), nullable=True),
        sa.Column("relevante_koerperliche_erkrankungen", sa.Text(), nullable=True),
        sa.Column("aktuelle_medikation", sa.Text(), nullable=True),
        sa.Column("aktuelle_belastungsfaktoren", sa.Text(), nullable=True),
        sa.Column("unterstuetzungssysteme", sa.Text(), nullable=True),
        sa.Column("anlass_fuer_die_therapiesuche", sa.Text(), nullable=True),
        sa.Column("erwartungen_an_die_therapie", sa.Text(), nullable=True),
        sa.Column("therapieziele", sa.Text(), nullable=True),
        sa.Column("fruehere_therapieerfahrungen", sa.Text(), nullable=True),
        sa.Column("ausgeschlossene_therapeuten", postgresql.JSONB(), nullable=True),
        sa.Column("bevorzugtes_therapeutengeschlecht", gender_preference, nullable=True),
        sa.Column("created_at", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema="patient_service",
    )
    op.create_index("ix_patient_service_patients_id", "patients", ["id"], schema="patient_service")


def downgrade():
    op.drop_index("ix_patient_service_patients_id", table_name="patients", schema="patient_service")
    op.drop_table("patients", schema="patient_service")
    gender_preference.drop(op.get_bind(), checkfirst=True)
    patient_status.drop(op.get_bind(), checkfirst=True)
