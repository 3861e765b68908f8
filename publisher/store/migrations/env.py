"""Alembic environment: the engine comes from publisher.store (no alembic.ini needed)."""

from alembic import context

from publisher.store.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` command line: build from the sqlalchemy.url option
    from publisher.store.engine import make_engine

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///var/publisher.db")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
