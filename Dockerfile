# Aula: `aula run` with SQLite on a volume, as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    AULA_DATABASE=/data/aula.sqlite3 \
    AULA__SLACK__HOST=0.0.0.0

RUN useradd --create-home --uid 10001 aula && mkdir /data && chown aula:aula /data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY config ./config
RUN pip install . && rm -rf /root/.cache

USER aula
VOLUME ["/data"]
# The runner touches /data/heartbeat while the event loop is alive.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["aula", "healthcheck"]
ENTRYPOINT ["aula"]
CMD ["run"]
