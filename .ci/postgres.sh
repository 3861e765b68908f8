# Start a throwaway PostgreSQL cluster on 127.0.0.1 and export PUBLISHER_TEST_PG_URL.
# Sourced by .ci/run; usable by hand: `source .ci/postgres.sh; ...; stop_postgres`.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DIR=$(mktemp -d /tmp/publisher-pg.XXXXXX)
PG_PORT=${PG_PORT:-55432}
chown postgres "$PG_DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
as_pg "$PG_BIN/initdb -D $PG_DIR/data -U postgres -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -o '-h 127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200' -w start" >/dev/null
export PUBLISHER_TEST_PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
stop_postgres() { as_pg "$PG_BIN/pg_ctl -D $PG_DIR/data -m fast stop" >/dev/null 2>&1 || true; }
