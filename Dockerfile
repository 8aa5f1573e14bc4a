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

# Run: no compiler, non-root, one volume for the LMDB store (and the embedded nats-server's
# JetStream store when NATS_URL is not set).
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends nats-server ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/vigil --create-home vigil
WORKDIR /opt/vigil
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
ENV VIGIL_DATA=/var/lib/vigil NODE_ENV=production
VOLUME ["/var/lib/vigil"]
USER vigil
EXPOSE 8080
ENTRYPOINT ["node", "/opt/vigil/bin/vigil.js"]
CMD ["serve", "--http", "0.0.0.0:8080"]
