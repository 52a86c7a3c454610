"""The platform's real database at 5dfc91e6b6f9, and the catalog of a database to compare.

``tests/platform/schema-at-5dfc91e6b6f9.sql`` is a ``pg_dump --schema-only`` of the
platform's database at the revision this service's chain builds on, and
``tests/platform/sample-rows.sql`` rows as the platform's services write them (enum names,
NULL where those services leave NULL). Both are copies kept in this repository.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import make_url

PLATFORM_DIR = Path(__file__).parent / "platform"
PLATFORM_REVISION = "5dfc91e6b6f9"
PLATFORM_SCHEMA_SQL = PLATFORM_DIR / "schema-at-5dfc91e6b6f9.sql"
PLATFORM_ROWS_SQL = PLATFORM_DIR / "sample-rows.sql"
# Ownership names the dump's role; settings newer servers know only. Neither is schema.
_NOT_SCHEMA = re.compile(r"^(ALTER .* OWNER TO .*|SET transaction_timeout = .*)$", re.MULTILINE)


def connect(url: str) -> Any:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    return connection


def run_sql(url: str, sql: str, params: Any = None) -> list[tuple]:
    connection = connect(url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def load_platform_database(url: str, *, stamp: str | None = PLATFORM_REVISION) -> None:
    """The platform's schema into an empty database, its chain's revision stamped, as a
    platform database is found in production."""
    run_sql(url, _NOT_SCHEMA.sub("", PLATFORM_SCHEMA_SQL.read_text()))
    if stamp:
        run_sql(url, "INSERT INTO public.alembic_version (version_num) VALUES (%s)", (stamp,))


def load_platform_rows(url: str) -> None:
    run_sql(url, PLATFORM_ROWS_SQL.read_text())


_CATALOG = {
    "schemas": """
        SELECT nspname FROM pg_namespace
        WHERE nspname !~ '^pg_' AND nspname NOT IN ('information_schema', 'public')""",
    "columns": """
        SELECT n.nspname, c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
          AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'""",
    "enums": """
        SELECT n.nspname, t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
        FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
        JOIN pg_namespace n ON n.oid = t.typnamespace
        GROUP BY n.nspname, t.typname""",
    "indexes": """
        SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname !~ '^pg_' AND schemaname <> 'information_schema'""",
    "constraints": """
        SELECT n.nspname, c.relname, co.conname, co.contype::text, pg_get_constraintdef(co.oid)
        FROM pg_constraint co
        JOIN pg_class c ON c.oid = co.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'""",
    "sequences": """
        SELECT s.schemaname, s.sequencename, s.data_type::text, s.start_value, s.increment_by,
               d.refobjid::regclass::text
        FROM pg_sequences s
        LEFT JOIN pg_depend d ON d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
             AND d.classid = 'pg_class'::regclass AND d.deptype = 'a'""",
    "extensions": "SELECT extname FROM pg_extension",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
        WHERE NOT tgisinternal""",
    "functions": """
        SELECT n.nspname, p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema', 'public')""",
}


def catalog(url: str) -> dict[str, set[tuple]]:
    """Everything the schema is made of, as sets of rows (order-free, comparable)."""
    return {kind: set(run_sql(url, sql)) for kind, sql in _CATALOG.items()}
