# One image for every convtrack service: `convtrack serve <service>` in a Deployment,
# `convtrack migrate` in the migrate Job. Build it with `make image` (see docs/deploy.md).
#
# Python packages come from a wheel directory built on the host (build/wheelhouse, written by
# scripts/build-image.sh): the build stage installs with --no-index, so it needs no network.
# BASE_IMAGE must carry the same Python minor version as the host that built the wheelhouse.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY build/wheelhouse/ /wheelhouse/
COPY pyproject.toml README.md ./
COPY gen/ gen/
COPY common/ common/
COPY services/ services/
RUN python3 -m venv /opt/convtrack \
    && /opt/convtrack/bin/pip wheel --find-links /wheelhouse --no-deps --wheel-dir /wheels . \
    && /opt/convtrack/bin/pip install --find-links /wheelhouse /wheels/convtrack-*.whl \
    && /opt/convtrack/bin/convtrack --help > /dev/null

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="convtrack" \
      org.opencontainers.image.description="Conversion tracking services over gRPC" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 convtrack \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin convtrack
COPY --from=build /opt/convtrack /opt/convtrack
ENV PATH=/opt/convtrack/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    CONVTRACK_DATA_DIR=/tmp/data \
    INGEST_LISTEN=0.0.0.0:50051 \
    IDENTITY_LISTEN=0.0.0.0:50052 \
    ATTRIBUTION_LISTEN=0.0.0.0:50053 \
    REPORTING_LISTEN=0.0.0.0:50054
WORKDIR /app
USER 10001:10001
# Main ports, internal ports (mutual TLS; no internal port for reporting) and the health port
# (set in the Kubernetes settings; neither is opened unless configured).
EXPOSE 50051 50052 50053 50054 50061 50062 50063 8081
STOPSIGNAL SIGTERM
ENTRYPOINT ["convtrack"]
CMD ["--help"]
