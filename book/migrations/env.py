"""Alembic environment of the book: migrates the connection `funnelcast.book.db.migrate` hands over
(no alembic.ini: the URL is the book's, from FUNNELCAST_DATABASE_URL or the home directory)."""

from alembic import context

from funnelcast.book.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
