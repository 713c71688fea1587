# kube-stream-gateway container image.
#
#   docker build -t kube-stream-gateway .
#   docker run --read-only --tmpfs /tmp -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/gateway.yaml:/etc/kube-stream-gateway/gateway.yaml:ro" kube-stream-gateway
#
# Node.js 26 is the Active LTS line (since 2026-10-28). The runtime stage holds the compiled
# JavaScript and the production dependencies only: no compiler, no dev dependencies, no node-pty
# (it serves only the SPDY stand-in cluster of `demo` and `legacy-cluster`, which run commands on
# the host they run on and have no place in a production gateway image). The process runs as an
# unprivileged user and writes nothing outside /tmp, so a read-only root filesystem works.
#
# Every RUN below uses paths relative to its WORKDIR: test/deploy/dockerfile.test.ts replays the
# stages as plain commands on a machine without a Docker engine.

# Pinned by digest, so a rebuild gets the same base whatever the tag points to today. The digest is
# the tag's multi-platform index as other public Dockerfiles pin it (this project's machines cannot
# reach Docker Hub to read it themselves); check and refresh it with each Node.js patch release:
#   docker buildx imagetools inspect node:26-trixie-slim --format '{{json .Manifest.Digest}}'
ARG NODE_IMAGE=node:26-trixie-slim@sha256:ec7758ee051e457b468b32bde57b0879010b325bb9862718e9615225ce4aaae1

# --- compile TypeScript -----------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: compiling needs no native module built (and `prepare` would run too early).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
# The product's sources only: the benchmark lives in bench/, outside the build context and the image.
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json \
 && node scripts/build-ui.mjs \
 && chmod 0755 dist/cli/main.js \
 && mkdir bin \
 && ln -s ../dist/cli/main.js bin/kube-stream-gateway

# --- production dependencies ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# bufferutil (optional, unmasks WebSocket frames faster) loads its shipped prebuilt binary, so no
# script has to run. node-pty is optional too (the stand-in cluster's terminals): removed here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm uninstall --omit=dev --ignore-scripts --no-audit --no-fund node-pty

# --- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="kube-stream-gateway" \
      org.opencontainers.image.description="WebSocket exec, attach, cp and port-forward for Kubernetes clusters that only speak SPDY/3.1" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    PATH=/app/bin:$PATH
WORKDIR /app
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY package.json ./
# The node image's unprivileged user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# The gateway listener: 8080 for plain HTTP behind a TLS-terminating proxy, 8443 when it serves TLS
# itself (deploy/ uses both); 9090: the admin listener (/metrics, /livez, /healthz, /readyz).
EXPOSE 8080 8443 9090
# Slim images have no curl: Node's own fetch asks the admin listener. KSG_HEALTHCHECK_URL overrides it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.KSG_HEALTHCHECK_URL || 'http://127.0.0.1:9090/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["kube-stream-gateway"]
CMD ["serve", "--config", "/etc/kube-stream-gateway/gateway.yaml"]
