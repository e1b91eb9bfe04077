#!/bin/sh
# Creates the cluster on first start (superuser password from POSTGRES_PASSWORD, never a
# default), then runs PostgreSQL in the foreground so the engine can stop it with SIGTERM
# ("smart") or, as compose does on timeout, SIGKILL.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=workspace}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres-entrypoint: POSTGRES_PASSWORD is empty; refusing to create a cluster without a password (wsctl writes it to the env file)" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    # Other containers reach it over the compose network; the host only through the port
    # published on 127.0.0.1.
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
    echo "postgres-entrypoint: created the cluster and database $POSTGRES_DB"
fi
unset POSTGRES_PASSWORD
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql "$@"
