# One image for web, workers and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app
RUN useradd --create-home --uid 1000 concierge

# The CPU build of torch first, from PyTorch's CPU index, so nothing pulls CUDA.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY config ./config
COPY chatbot ./chatbot
COPY classifier ./classifier
COPY recommender ./recommender
COPY ml ./ml
COPY ops ./ops
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
