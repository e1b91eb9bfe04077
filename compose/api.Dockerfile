# The Workspace API image: workspace-api (the default command) and wsctl (used in compose as
# the answerer of the pageserver's control-plane upcalls). The binaries are the host's release
# build; a glibc binary built on bookworm runs here unchanged.
ARG BASE=workspace-stack/bookworm-base:0.1.0
FROM ${BASE}
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin workspace \
 && mkdir -p /data && chown workspace:workspace /data
COPY workspace-api wsctl /usr/local/bin/
ENV WORKSPACE_HOST=0.0.0.0 \
    WORKSPACE_PORT=3200 \
    LOG_FORMAT=json
USER workspace
WORKDIR /data
EXPOSE 3200
CMD ["workspace-api", "serve"]
