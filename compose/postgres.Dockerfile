# PostgreSQL for the compose stack's postgres variant, on the base that build-images.sh
# imports from a debootstrap root filesystem (no registry needed).
ARG BASE=workspace-stack/bookworm-base:0.1.0
FROM ${BASE}
# One stable path whatever major version bookworm ships.
RUN ln -s "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)" /usr/local/pgbin \
 && mkdir -p /data /run/postgresql \
 && chown postgres:postgres /data /run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/local/pgbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/data/pgdata \
    LANG=C.UTF-8
USER postgres
WORKDIR /data
VOLUME /data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
