# syntax=docker/dockerfile:1
# Build: compile TypeScript and the native addons (lmdb, zstd-napi, msgpackr-extract) once.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workers ./workers
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# Run: no compiler, no dev dependencies, no benchmarks; non-root (uid and gid 10001, which
# deploy/kubernetes and deploy/compose name); one volume for the LMDB store (and the embedded
# nats-server's JetStream store when NATS_URL is not set).
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nats-server ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vigil \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/vigil --create-home vigil
WORKDIR /opt/vigil
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/workers ./dist/workers
COPY bin ./bin
ENV VIGIL_DATA=/var/lib/vigil VIGIL_HTTP=0.0.0.0:8080 NODE_ENV=production
VOLUME ["/var/lib/vigil"]
USER 10001:10001
EXPOSE 8080
# The slim image has no curl: node asks /healthz on the port of VIGIL_HTTP (a run that moves the
# port with --http instead of VIGIL_HTTP must set VIGIL_HTTP too, or the check fails).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const port = /:(\\d+)$/.exec(process.env.VIGIL_HTTP ?? '')?.[1] ?? '8080'; fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) }).then((res) => process.exit(res.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/opt/vigil/bin/vigil.js"]
CMD ["serve"]
