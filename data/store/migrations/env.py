"""Alembic environment: migrations always run on a connection the store hands over."""

from alembic import context

from data.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable when someone runs alembic by hand
    raise RuntimeError("run migrations through `talentcast db upgrade` (data.store.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
