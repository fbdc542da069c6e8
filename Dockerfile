# syntax=docker/dockerfile:1.7
# Every image, one per deployable: WORKSPACE names it (gateway, services/auth, services/task,
# services/analytics) and PORT is the port it listens on. Built from the repository root, so that
# the shared workspace packages are in reach (skaffold.yaml and the CD workflow pass both):
#   docker build --build-arg WORKSPACE=services/task --build-arg PORT=3002 -t taskmesh/task .

# The Node.js release in .node-version (CI and `.ci/run` use it too; a test keeps them equal).
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# Only the npm manifests: the install layers below are rebuilt when a manifest changes, not on
# every source edit, which keeps `skaffold dev` rebuilds to the compile step.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete \
 && find . -type d -empty -delete

# Compiles this workspace and the workspace packages it references. The full install comes before
# ARG WORKSPACE: every RUN after an ARG sees it, so the four images would each redo it; above the
# ARG, its layer is one and the same for all four.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts
COPY . .
ARG WORKSPACE
RUN test -n "$WORKSPACE" || { echo 'set --build-arg WORKSPACE=<gateway|services/auth|services/task|services/analytics>' >&2; exit 1; }
RUN npx tsc -b "$WORKSPACE" \
 && mkdir /out \
 && for ws in packages/* "$WORKSPACE"; do \
      mkdir -p "/out/$ws" && cp "$ws/package.json" "/out/$ws/"; \
      if [ -d "$ws/dist" ]; then cp -a "$ws/dist" "/out/$ws/"; fi; \
    done

# Production dependencies of this workspace alone (with those of the workspace packages it uses):
# no dev dependencies, and nothing the other services need.
FROM ${NODE_IMAGE} AS deps
ARG WORKSPACE
WORKDIR /app
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --workspace "$WORKSPACE" --no-audit --no-fund --ignore-scripts

# bookworm-slim rather than distroless: the pod's preStop hook runs `sleep` (cdk8s-plus-28 cannot
# express Kubernetes' built-in sleep action), and that needs a binary to run.
FROM ${NODE_IMAGE} AS runtime
ARG WORKSPACE
ARG PORT
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
# npm nests a dependency beside the workspace package that needs a version the root cannot hold
# (service-kit's ajv 8): those node_modules come along, the compiled code is laid over them.
COPY --from=deps /app/packages/ ./packages/
COPY --from=build /out/ ./
# The runtime settings (NODE_OPTIONS), from the same file `npm start` and the benchmark read;
# `exec` leaves node as PID 1, receiving the pod's SIGTERM.
COPY node-runtime.env ./
USER 10001:10001
WORKDIR /app/${WORKSPACE}
EXPOSE ${PORT}
CMD ["sh", "-c", "set -a && . /app/node-runtime.env && exec node --import @taskmesh/telemetry/register dist/server.js"]
