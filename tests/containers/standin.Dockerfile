# Test-only: the Neon variant's images made of the STAND-INS (examples/neon_standin/), not
# Neon, on the bookworm base of compose/build-images.sh. Tagged workspace-stack/<name>:standin.
ARG BASE=workspace-stack/bookworm-base:0.1.0
FROM ${BASE}
COPY neon_standin /usr/local/bin/neon_standin
# Neon's program names; the layout the compose file expects (pg_distrib_dir /usr/local with
# v17/{bin,lib}, the compute's postgres at /usr/local/bin/postgres, and the tools compute_ctl
# runs beside it: pg_config, pg_ctl, initdb, pg_isready), served by bookworm's PostgreSQL.
RUN for p in storage_broker safekeeper pageserver compute_ctl; do ln -s neon_standin /usr/local/bin/$p; done \
 && pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1) \
 && mkdir -p /usr/local/v17/bin \
 && for t in postgres initdb pg_ctl pg_isready pg_config; do \
      ln -s "$pg/$t" /usr/local/v17/bin/$t && ln -sf "$pg/$t" /usr/local/bin/$t; done \
 && ln -s "$(dirname "$pg")/lib" /usr/local/v17/lib \
 && mkdir -p /data && chown postgres:postgres /data
USER postgres
WORKDIR /data
# Each container keeps timelines' data in its own volume; a compute on a new timeline starts
# from its nearest ancestor's, found through the pageserver.
ENV NEON_STANDIN_STORE=/data/timelines NEON_STANDIN_PAGESERVER_HTTP=http://pageserver:9898
