# One image definition for every ClassConnect process; pick it with build arguments:
#   docker build --build-arg SERVICE_DIR=services/users --build-arg PORT=5051 -t classconnect-users .
#   docker build --build-arg SERVICE_DIR=gateway --build-arg PORT=8080 -t classconnect-gateway .
# Stage 1 installs production dependencies only; stage 2 builds each process's bundle
# (scripts/build.ts); stage 3 runs the chosen one as a non-root user. Node 24, an LTS line
# (Node 20's support ended in April 2026; the test suite passes on 20, 24 and 26).
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY gen/package.json gen/
COPY packages/platform/package.json packages/platform/
COPY services/users/package.json services/users/
COPY services/courses/package.json services/courses/
COPY services/notifications/package.json services/notifications/
COPY services/admin/package.json services/admin/
COPY gateway/package.json gateway/
COPY scripts/patch-deps.ts scripts/
# --ignore-scripts skips the postinstall (its proto step needs dev tools), so the
# postgres.js guards it applies are applied here.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && node --import tsx scripts/patch-deps.ts

FROM deps AS build
COPY tsconfig.json ./
COPY scripts/build.ts scripts/
COPY gen gen
COPY packages packages
COPY services services
COPY gateway gateway
RUN node --import tsx scripts/build.ts

FROM node:24-bookworm-slim
ARG SERVICE_DIR
ARG PORT
ENV NODE_ENV=production SERVICE_DIR=${SERVICE_DIR} PORT=${PORT}
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules node_modules
COPY --chown=node:node package.json tsconfig.json ./
COPY --chown=node:node gen gen
COPY --chown=node:node packages/platform packages/platform
COPY --chown=node:node ${SERVICE_DIR} ${SERVICE_DIR}
COPY --from=build --chown=node:node /app/${SERVICE_DIR}/dist ${SERVICE_DIR}/dist
USER node
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s CMD node --import tsx packages/platform/src/healthcheck.ts "$PORT"
# exec: node is PID 1 and receives SIGTERM for the graceful drain. The flags are
# scripts/build.ts's nodeFlags (build.test.ts checks they agree).
CMD exec node --enable-source-maps --single-threaded-gc "$SERVICE_DIR/dist/main.mjs"
