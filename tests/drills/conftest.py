"""A fresh database (from the migrated template) on the test server for each drill."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import TEMPLATE_DB
from tests.pg import drop_database, recreate_database


@pytest.fixture
def drill_database_url(pg_server_url: str, worker_id: str) -> Iterator[str]:
    name = f"cs_drill_{worker_id}"
    yield recreate_database(pg_server_url, name, template=TEMPLATE_DB)
    drop_database(pg_server_url, name)
