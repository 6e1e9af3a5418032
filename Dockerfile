# One image for web, workers and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app
RUN useradd --create-home --uid 1000 concierge

# PostgreSQL 18's client tools for `manage.py backup` / `restore`, from PGDG's
# repository (Debian's own client is older than the server, and pg_dump refuses a
# newer server).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && install -d /usr/share/postgresql-common/pgdg \
    && curl -fsSo /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
       https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    && . /etc/os-release \
    && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] \
https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
       > /etc/apt/sources.list.d/pgdg.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client-18 \
    && apt-get purge -y curl && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
ENV PG_BIN_DIR=/usr/lib/postgresql/18/bin

# The CPU build of torch first, from PyTorch's CPU index, so nothing pulls CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY config ./config
COPY chatbot ./chatbot
COPY classifier ./classifier
COPY recommender ./recommender
COPY ml ./ml
COPY ops ./ops
COPY api ./api
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && DEBUG=1 SECRET_KEY=build DATABASE_URL=postgres://build@localhost/build \
       REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --no-input

USER concierge
EXPOSE 8000
# No forwarded header is trusted unless a deployment names its proxy (compose's web
# service does, for the Caddy proxy it runs).
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--ws-max-size", "65536", "--no-proxy-headers"]
