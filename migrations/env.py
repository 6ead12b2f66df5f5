"""Alembic environment: every model's metadata, GeoAlchemy2's autogenerate helpers."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from runtime.tables import metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from runtime.database import database_url

    return database_url()


def _include_object(obj, name, obj_type, reflected, compare_to):  # type: ignore[no-untyped-def]
    # PostGIS ships tables of its own (spatial_ref_sys, topology...): they are not ours to manage.
    if obj_type == "table" and reflected and compare_to is None:
        return False
    return bool(alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to))


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_engine(_url(), poolclass=pool.NullPool)
        with engine.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        include_object=_include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run against a database")
run_migrations_online()
