# syntax=docker/dockerfile:1
# The Stead image. One command for every pod: `stead <role>` with role server, metadata-store, log-server,
# sequencer, worker, ingress or admin (settings as flags or STEAD_* variables), and `stead ctl …` to operate a
# cluster. There is no build step: Node 24 runs the TypeScript sources with its type stripping.
#
#   docker build -t stead .
#   docker run --rm -p 8080:8080 -p 8090:8090 -p 9070:9070 -v stead-data:/var/lib/stead stead server

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/stead
COPY . .
# Only the deployables and the libraries they use (not the e2e, benchmark and chart-test workspaces), without
# devDependencies. The web UI comes as its committed build (apps/ui/dist, in @stead/ui, which the server and
# admin apps depend on): its toolchain is a devDependency and is not installed.
RUN npm ci --omit=dev --no-audit --no-fund \
      -w apps/cli -w apps/server -w apps/metadata-store -w apps/log-server -w apps/sequencer \
      -w apps/worker -w apps/ingress -w apps/admin \
 && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
COPY --from=deps /opt/stead /opt/stead
COPY docker/stead /usr/local/bin/stead
RUN groupadd --system --gid 10001 stead \
 && useradd --system --uid 10001 --gid stead --home-dir /var/lib/stead --shell /usr/sbin/nologin stead \
 && mkdir -p /var/lib/stead \
 && chown stead:stead /var/lib/stead \
 && chmod 0755 /usr/local/bin/stead
USER 10001:10001
# The defaults of every role keep their data under ./stead-data: the working directory is the volume.
WORKDIR /var/lib/stead
VOLUME /var/lib/stead
# 5122 node gRPC, 5123 /metrics /health /ready, 8080 ingress, 8090 gRPC ingress, 9070 admin API.
EXPOSE 5122 5123 8080 8090 9070
ENTRYPOINT ["stead"]
CMD ["server"]
