"""Alembic's environment: runs the migrations on the connection `serving.database.migrate` hands over.

There is no alembic.ini and no URL here: `migrate.upgrade(url)` opens the connection, takes the
migration lock inside its transaction and passes the connection in `config.attributes`, so the lock,
the DDL and the version stamp commit together. Offline (`--sql`) mode is not supported.
"""

from __future__ import annotations

from alembic import context

from serving.database.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "Run the migrations through serving.database.migrate.upgrade(url) or `clvchurn db upgrade`, "
        "which hand Alembic a connection; the alembic command line is not set up for this project"
    )
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
