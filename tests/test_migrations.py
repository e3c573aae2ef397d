"""The schema comes from Alembic migrations, and the migrations match the models."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from labelbay.db import make_engine, upgrade_to_head
from labelbay.models import Base


def _url(tmp_path: Path) -> str:
    pg = os.environ.get("LABELBAY_TEST_DATABASE_URL")
    if pg:
        from conftest import reset_postgres

        url = pg + "_migrations"
        reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path / 'migrations.db'}"


def test_migrations_create_every_table_and_match_the_models(tmp_path: Path) -> None:
    engine = make_engine(_url(tmp_path))
    try:
        upgrade_to_head(engine)
        upgrade_to_head(engine)  # a second run is a no-op
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
