# syntax=docker/dockerfile:1
# TracSeq Edge image: one entry point (tracseq-edge) for the daemon, central and analytics.

# The dashboard's chart library, from the npm registry (served by central itself).
FROM node:20-bookworm-slim AS assets
WORKDIR /dashboard
COPY central/dashboard/package.json central/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund \
    && mkdir -p vendor \
    && cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css vendor/

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY runtime ./runtime
COPY edgeconfig ./edgeconfig
COPY edge ./edge
COPY drivers ./drivers
COPY sync ./sync
COPY central ./central
COPY analytics ./analytics
COPY sim ./sim
COPY --from=assets /dashboard/vendor ./central/dashboard/static/vendor
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="tracseq-edge" \
      org.opencontainers.image.description="Lab IoT edge gateway: durable log, local alarms, Redis CloudEvents, sync"
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
    && groupadd --system --gid 10001 tracseq \
    && useradd --system --uid 10001 --gid tracseq --groups dialout --home-dir /var/lib/tracseq tracseq \
    && mkdir -p /var/lib/tracseq /etc/tracseq \
    && chown tracseq:tracseq /var/lib/tracseq
COPY docker/sensors.yaml /etc/tracseq/sensors.yaml
USER 10001:10001
WORKDIR /var/lib/tracseq
VOLUME ["/var/lib/tracseq"]
EXPOSE 8087
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8087/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["tracseq-edge"]
CMD ["run", "-c", "/etc/tracseq/sensors.yaml", "--log-format", "json"]
