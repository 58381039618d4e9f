# syntax=docker/dockerfile:1
# mdm-hub: one image for `mdm-hub serve`, `mdm-hub worker` and `mdm-hub migrate`.
#
#   docker build -t mdm-hub:0.1.0 .
#   docker run --rm -e DATABASE_URL=postgresql://… -p 8000:8000 mdm-hub:0.1.0
#   docker run --rm -e DATABASE_URL=postgresql://… mdm-hub:0.1.0 migrate
#   docker run --rm -e DATABASE_URL=postgresql://… mdm-hub:0.1.0 worker
#
# Runs as UID/GID 10001 and writes nothing outside /tmp, so it runs with a read-only root
# filesystem (Kubernetes: readOnlyRootFilesystem with an emptyDir at /tmp).
# Both stages use the same base (the virtualenv links to its interpreter). For bit-for-bit
# rebuilds, append the digest your registry resolves, e.g. python:3.11-slim-trixie@sha256:…,
# to both FROM lines.

# ---------------------------------------------------------------- build stage
FROM python:3.11-slim-trixie AS build

# The same uv as the Makefile bootstrap (.tools/bin/uv).
ARG UV_VERSION=0.13.9
RUN python -m pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

WORKDIR /src
ENV VENV=/opt/venv

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
COPY docker/install.sh docker/install.sh
RUN --mount=type=cache,target=/root/.cache/uv sh docker/install.sh deps

# Then the application itself (the .dockerignore allowlist decides what "." holds).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv sh docker/install.sh project

# ---------------------------------------------------------------- runtime stage
FROM python:3.11-slim-trixie AS runtime

LABEL org.opencontainers.image.title="mdm-hub" \
      org.opencontainers.image.description="Customer master-data hub (顧客マスタ): API, webhook worker, migrations"

# A fixed, high, numeric UID/GID: Kubernetes' runAsNonRoot can verify it, and it does not
# collide with a host user.
RUN groupadd --system --gid 10001 mdm \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin mdm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp

# Only the virtualenv (bytecode compiled at build time). The alembic scripts for
# `mdm-hub migrate` travel inside the mdm_hub wheel (mdm_hub/_migrations). Everything stays
# owned by root: the app cannot modify its own code.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app

USER 10001:10001
EXPOSE 8000

# uvicorn is PID 1 and handles SIGTERM itself (drains in-flight requests), so no init shim.
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK: one image runs three commands (serve, worker, migrate); the orchestrator probes /healthz and /readyz (see helm/mdm-hub).
ENTRYPOINT ["mdm-hub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
