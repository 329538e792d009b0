"""Alembic environment: runs migrations on the URL given by taxifare.core.db.migrate."""

from alembic import context

from taxifare.core.db.engine import connect_engine
from taxifare.core.db.tables import metadata

url = context.config.get_main_option("sqlalchemy.url")
engine = connect_engine(url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things in place: batch mode rebuilds the table instead.
            render_as_batch=engine.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
