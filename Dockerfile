# tailsight: one image for every role of `tailsight up`, the node agent and the switch poller.
# Build: docker build -t tailsight:0.1.0 .   Run: see docker-compose.yml and deploy/kubernetes/.

# --- build: compile the C trace encoder (tailsight/pipeline/_otlp_native.c) into a venv ---
FROM python:3.11.11-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tailsight ./tailsight
RUN python -m venv /opt/tailsight \
 && /opt/tailsight/bin/pip install --no-cache-dir ".[agent,switch]"
# The encoder is optional in pyproject.toml (a build without a compiler still works, about
# a quarter as fast at ingest); in this image it is required, so a failed compile fails here.
RUN /opt/tailsight/bin/python -c "import tailsight.pipeline._otlp_native"

# --- runtime: no compiler, a non-root user ---
FROM python:3.11.11-slim-bookworm
# lldpd: `lldpctl` for the node agent's topology (and the lldpd sidecar of the DaemonSet).
RUN apt-get update \
 && apt-get install -y --no-install-recommends lldpd \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tailsight \
 && useradd --system --uid 10001 --gid 10001 --groups _lldpd \
      --home-dir /var/lib/tailsight --create-home tailsight
COPY --from=build /opt/tailsight /opt/tailsight
ENV PATH=/opt/tailsight/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TAILSIGHT_HOST=0.0.0.0 \
    TAILSIGHT_DATA_DIR=/var/lib/tailsight
USER 10001:10001
WORKDIR /var/lib/tailsight
VOLUME ["/var/lib/tailsight"]
# OTLP/gRPC, OTLP/HTTP, API and dashboards
EXPOSE 4317 4318 8050
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/api/v1/health', timeout=2)"]
ENTRYPOINT ["tailsight"]
CMD ["up"]
