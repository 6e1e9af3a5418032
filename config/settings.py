"""Concierge settings, read from the environment (see the README's table)."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta
from pathlib import Path

import dj_database_url
import dj_email_url

from config.env import (
    EnvError,
    env_bool,
    env_header,
    env_hosts,
    env_int,
    env_networks,
    env_origins,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
# Development data: the embedded databases, trained models, the demo login.
DATA_DIR = Path(env_str("CONCIERGE_DATA_DIR") or BASE_DIR / ".data")

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise EnvError("SECRET_KEY: required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-for-DEBUG"  # noqa: S105
elif len(SECRET_KEY) < 32 and not DEBUG:
    raise EnvError("SECRET_KEY: use at least 32 random characters")

# Wildcards ("*") only in development: the websockets trust pages of our own hosts.
ALLOWED_HOSTS = env_hosts(
    "ALLOWED_HOSTS",
    ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [],
    wildcard=DEBUG,
)
CSRF_TRUSTED_ORIGINS = env_origins("CSRF_TRUSTED_ORIGINS", wildcard=DEBUG)
# Shop sites allowed to open the chat websocket (the widget's page origin), beside
# our own. Compared by scheme, host and port; no wildcards, even in development.
WIDGET_ALLOWED_ORIGINS = env_origins("WIDGET_ALLOWED_ORIGINS")
# The demo shop's pages and `manage.py setup_demo` (which makes a superuser
# "admin"): always in development, in production only when asked for.
DEMO = DEBUG or env_bool("DEMO", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_celery_beat",
    "axes",
    "csp",
    # For its bundled Swagger UI files: /api/docs loads nothing from a CDN.
    "ninja",
    "ops",
    "ml",
    "classifier",
    "recommender",
    "chatbot",
    "api",
    "privacy",
]

MIDDLEWARE = [
    # First: /healthz and /readyz answer probes by the container's own address.
    "ops.middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a login from a locked-out address before checking a password.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database, Redis ----------------------------------------------------------
# Required in production. In development `make run`, `python manage.py …` and the
# test suite start embedded PostgreSQL and Redis and set both before the settings
# are read; the settings only ever see the environment.
DATABASE_URL = env_url(
    "DATABASE_URL", schemes=("postgres", "postgresql", "pgsql"), required=not DEBUG
)
REDIS_URL = env_url(
    "REDIS_URL", schemes=("redis", "rediss", "unix"), required=not DEBUG
)
if DATABASE_URL is None or REDIS_URL is None:
    raise EnvError(
        "DATABASE_URL/REDIS_URL: unset; in development `make run` and "
        "`python manage.py …` start embedded servers and set them, any other "
        "process needs them set"
    )

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "chatbot.channel_layer.PatientRedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 60},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "concierge",
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True  # a task is redelivered if its worker dies mid-way
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker vanished without a word (the whole process killed) comes back
# after this; every retry countdown stays below it, and the reply outbox sweep
# answers long before it (see REPLY_SWEEP_AFTER_SECONDS).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = "inference"
# Embeddings have their own queue: a catalog import never delays a chat reply;
# webhook deliveries wait on the shop's servers: never in the chat's queue either.
CELERY_TASK_ROUTES = {
    "*.train_*": {"queue": "training"},
    "*.embed_*": {"queue": "embeddings"},
    "*.sweep_embeddings": {"queue": "embeddings"},
    "api.tasks.*": {"queue": "webhooks"},
    # Nightly batch work, with the other nightly jobs: never beside chat replies.
    "privacy.tasks.*": {"queue": "training"},
    # Calls to the shop's order endpoint: as slow as the shop, away from replies.
    "chatbot.tasks.send_order_change": {"queue": "webhooks"},
}
# The periodic tasks are rows (django-celery-beat), created once by
# `manage.py setup_schedule` (run after every migrate) and then the operators'
# to edit in the admin: there is no CELERY_BEAT_SCHEDULE for beat to write back.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Worker processes (prefork children) per worker, and torch threads in each. On the
# 2-core reference machine: 2 processes of 1 thread. Two messages then run side by
# side instead of queueing, a training task never stops replies, and no more
# threads than cores compete with the web server for the CPU. On a bigger machine,
# keep processes times threads at or below the cores the worker has (README,
# "Performance"). A process loads its models before it takes a task: allow for it.
WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 2, minimum=1)
WORKER_TORCH_THREADS = env_int(
    "WORKER_TORCH_THREADS",
    max(1, (os.cpu_count() or 1) // WORKER_CONCURRENCY),
    minimum=1,
)
CELERY_WORKER_CONCURRENCY = WORKER_CONCURRENCY
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 300.0
# The bare baseline of `manage.py bench_chat`: a websocket at /ws/echo/ that echoes
# each message with no database and no bot work. Off unless a benchmark asks.
BENCH_ECHO = env_bool("BENCH_ECHO", default=False)

# --- Models -------------------------------------------------------------------
# A sentence-transformers model folder; empty means the packaged all-MiniLM-L6-v2.
ENCODER_PATH = env_str("ENCODER_PATH")
TORCH_THREADS = env_int("TORCH_THREADS", 2, minimum=1)
# What runs the intent model's encoder passes: "torch", or "onnx" (onnxruntime, on
# the graph that training then exports beside the weights; a model without one is
# served by torch). `manage.py bench_encoder` measures both side by side.
INTENT_RUNTIME = env_str("INTENT_RUNTIME", "torch")
if INTENT_RUNTIME not in ("torch", "onnx"):
    raise EnvError(f"INTENT_RUNTIME: 'torch' or 'onnx', not {INTENT_RUNTIME!r}")
MODEL_DIR = Path(env_str("MODEL_DIR") or DATA_DIR / "models")
# Other versions per kind (the newest, e.g. candidates to inspect) whose artifacts
# are kept (intent artifacts are about 260 MB each); older ones are deleted after
# each training run.
MODEL_KEEP_VERSIONS = env_int("MODEL_KEEP_VERSIONS", 5, minimum=1)
# Versions that were live before, per kind, whose artifacts are always kept: the
# rollback targets (activate one in the admin), never deleted by the pruning above.
MODEL_KEEP_PROMOTED = env_int("MODEL_KEEP_PROMOTED", 3, minimum=1)
# How often a serving process asks the database which version is active, in case
# it missed the Redis message an activation publishes.
MODEL_POLL_SECONDS = env_int("MODEL_POLL_SECONDS", 5, minimum=1)
# Saving a product or article queues the computation of its embedding.
EMBED_ON_SAVE = True

# --- Operations ---------------------------------------------------------------
# Each Celery worker renews a Redis key this often; /readyz and the workers'
# healthcheck count it alive for three intervals.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
# Where backup/restore find pg_dump, pg_restore and psql (of the server's major
# version or newer); empty: the embedded PostgreSQL's, else those on PATH.
PG_BIN_DIR = env_str("PG_BIN_DIR")
# The nightly purge of expired data (how long is kept: the shop settings) deletes
# this many rows per transaction, so that it never holds a table for long.
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)

# --- Email --------------------------------------------------------------------
# The one-time codes that confirm an order change go to the order's address.
# EMAIL_URL: smtp://user:pass@host:587/?tls=1 (or ?ssl=1), console:// (prints the
# mail; the default when DEBUG), file:////absolute/folder, memory://, dummy://.
# Unset in production: Django's default, SMTP on localhost:25.
EMAIL_URL = env_str("EMAIL_URL") or ("console://" if DEBUG else "")
if EMAIL_URL:
    _email = dj_email_url.parse(EMAIL_URL)
    if "EMAIL_BACKEND" not in _email:
        raise EnvError(
            f"EMAIL_URL: unknown scheme in {EMAIL_URL.split(':', 1)[0]!r}; use "
            f"smtp, submission, console, file, memory or dummy"
        )
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
    EMAIL_PORT = _email["EMAIL_PORT"] or 25
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or 10
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Concierge <noreply@localhost>")

# --- Security -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# A proxy's "this came over https" header is trusted only when named here (e.g.
# X-Forwarded-Proto, and only behind a proxy that always sets it): anyone who
# reaches the server directly could send it. docker-compose.yml leaves it unset
# and lets uvicorn trust the forwarded headers of its own proxy only
# (--forwarded-allow-ips), which also gives Django the client's address.
_proxy_ssl_header = env_header("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header, "https")
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# No inline script or style anywhere: the pages load their code from our static
# files and pass data in JSON islands (json_script), so an injected <script> does
# not run. Product images may come from a shop's CDN; the widget's socket is ours.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https:", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Admin login: after 5 failed logins from one address, that address is refused
# for 15 minutes (HTTP 429). By address, not by user name, so that nobody can
# lock the real staff out by failing on purpose with their name from elsewhere.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
# The address is the socket's (REMOTE_ADDR), which uvicorn rewrites from
# X-Forwarded-For only for a trusted proxy; never read a forwarded header here.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# --- Static files, i18n -------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Project-wide static files: the scripts that replace third-party inline ones.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in dev
# Without collectstatic (development, tests) STATIC_ROOT is absent, which is fine.
warnings.filterwarnings("ignore", message="No directory at", module="whitenoise.base")
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "admin:login"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Chat ---------------------------------------------------------------------
# At most this many customer messages per window of this many seconds.
# The reply outbox: a customer message with no reply this long after it was stored
# is enqueued again by the sweep (every REPLY_SWEEP_EVERY_SECONDS), waiting twice as
# long after each try; after REPLY_MAX_ATTEMPTS the customer is told the reply is
# late and the conversation goes to the agents' queue.
REPLY_SWEEP_AFTER_SECONDS = env_int("REPLY_SWEEP_AFTER_SECONDS", 10, minimum=1)
REPLY_SWEEP_EVERY_SECONDS = env_int("REPLY_SWEEP_EVERY_SECONDS", 5, minimum=1)
REPLY_MAX_ATTEMPTS = env_int("REPLY_MAX_ATTEMPTS", 5, minimum=1)
CHAT_THROTTLE = (
    env_int("CHAT_THROTTLE_MESSAGES", 10, minimum=1),
    env_int("CHAT_THROTTLE_SECONDS", 10, minimum=1),
)
# A customer's token dies this many seconds after it was issued; every connect
# issues a fresh one, so only a customer away this long becomes a new visitor.
CUSTOMER_TOKEN_MAX_AGE = env_int(
    "CUSTOMER_TOKEN_MAX_AGE", 30 * 24 * 60 * 60, minimum=60
)
# An agent's reply to a customer who left an email is emailed to them too, with a
# link back to the conversation: SHOP_URL (a page with the chat widget) plus a signed
# token, valid for CONVERSATION_LINK_MAX_AGE seconds.
SHOP_URL = env_str("SHOP_URL", "http://localhost:8000/")
CONVERSATION_LINK_MAX_AGE = env_int(
    "CONVERSATION_LINK_MAX_AGE", 7 * 24 * 60 * 60, minimum=60
)
# --- Rate limits --------------------------------------------------------------
# What one busy shopper's connection may send in a window of this many seconds, per
# frame type ("frames": every frame, read or not). A client address may send
# RATE_LIMIT_SHOPPERS_PER_ADDRESS times as much: many shoppers share one address
# behind a mobile carrier or an office. "connect" (new sockets) and "customer" (new
# customers, i.e. a hello without a valid token) count per address only. Over a
# limit the frame is answered with `throttled` and `retry_after`.
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 60, minimum=1)
RATE_LIMIT_SHOPPERS_PER_ADDRESS = env_int(
    "RATE_LIMIT_SHOPPERS_PER_ADDRESS", 50, minimum=1
)
CHAT_RATE_LIMITS = {
    "frames": env_int("RATE_LIMIT_CHAT_FRAMES", 240, minimum=1),
    "connect": env_int("RATE_LIMIT_CHAT_CONNECTS", 20, minimum=1),
    "customer": env_int("RATE_LIMIT_NEW_CUSTOMERS", 5, minimum=1),
    "hello": env_int("RATE_LIMIT_HELLOS", 20, minimum=1),
    "message": env_int("RATE_LIMIT_MESSAGES", 60, minimum=1),
    "postback": env_int("RATE_LIMIT_MESSAGES", 60, minimum=1),
    "typing": env_int("RATE_LIMIT_TYPING", 60, minimum=1),
    "resync": env_int("RATE_LIMIT_RESYNCS", 30, minimum=1),
    "csat": env_int("RATE_LIMIT_CSAT", 10, minimum=1),
    "event": env_int("RATE_LIMIT_EVENTS", 30, minimum=1),
}
# Staff are few and signed in: one generous limit for each console frame type.
CONSOLE_RATE_LIMITS = {
    "frames": env_int("RATE_LIMIT_CONSOLE_FRAMES", 1200, minimum=1),
    "connect": env_int("RATE_LIMIT_CONSOLE_CONNECTS", 60, minimum=1),
}
# Addresses or CIDR blocks never limited (a load generator, a monitoring probe).
RATE_LIMIT_EXEMPT = env_networks("RATE_LIMIT_EXEMPT")
# Proxies in front of the server whose X-Forwarded-For is believed: from a peer
# listed here, the client is the last hop of that header not listed here. Empty: the
# socket's peer is the client (uvicorn's --forwarded-allow-ips may rewrite it first).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# A resync answers at most this many messages; the client asks again for more.
RESYNC_PAGE_SIZE = env_int("RESYNC_PAGE_SIZE", 200, minimum=1)
# Training ignores customers with more events than this in some minute: no honest
# shopper views or adds that many products a minute (keep it below the socket's
# "event" limit, so that a script sending as fast as it may is left out).
RECOMMENDER_MAX_EVENTS_PER_MINUTE = env_int(
    "RECOMMENDER_MAX_EVENTS_PER_MINUTE", 20, minimum=1
)

# --- Shop API and webhooks -----------------------------------------------------
# Requests one API key may make per window of this many seconds (429 past it).
API_RATE_LIMIT = (
    env_int("API_RATE_LIMIT_REQUESTS", 600, minimum=1),
    env_int("API_RATE_LIMIT_SECONDS", 60, minimum=1),
)
# A webhook receiver has this long to connect and, again, to answer.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# A delivery that keeps failing is retried (backoff from 30 s to an hour) this long.
WEBHOOK_RETRY_FOR_SECONDS = env_int(
    "WEBHOOK_RETRY_FOR_SECONDS", 24 * 60 * 60, minimum=60
)

# --- The shop's order endpoint (ShopSettings.order_source = http) ---------------
# A lookup waits this long for the shop's answer, then the customer is told the
# order system is not answering: a chat must never hang on the shop.
ORDER_ENDPOINT_TIMEOUT_SECONDS = env_int("ORDER_ENDPOINT_TIMEOUT_SECONDS", 3, minimum=1)
# After this many failures in a row the circuit opens: for ORDER_ENDPOINT_RESET_SECONDS
# no call is made (every process reads the state in Redis), then one is tried.
ORDER_ENDPOINT_FAILURES = env_int("ORDER_ENDPOINT_FAILURES", 5, minimum=1)
ORDER_ENDPOINT_RESET_SECONDS = env_int("ORDER_ENDPOINT_RESET_SECONDS", 30, minimum=1)
# The shop's answer to one number and email (or shopper) is reused this long, so a
# conversation's confirmation and code turns don't call the shop again.
ORDER_LOOKUP_CACHE_SECONDS = env_int("ORDER_LOOKUP_CACHE_SECONDS", 60, minimum=0)
# The backend the http order source calls (chatbot.order_sources.OrderBackend).
ORDER_ENDPOINT_BACKEND = env_str(
    "ORDER_ENDPOINT_BACKEND", "api.order_endpoint.OrderEndpoint"
)

# --- Retraining ---------------------------------------------------------------
# Encoder fine-tuning epochs of the scheduled and admin-started intent trainings
# (0 trains only a head on the frozen encoder: minutes instead of tens of them).
INTENT_FINETUNE_EPOCHS = env_int("INTENT_FINETUNE_EPOCHS", 3, minimum=0)
# Training takes at most this many reviewed examples from one reviewer (the newest)
# and from one conversation, so one person or one chat cannot move the model; the
# rest are skipped and counted in the run's snapshot.
RETRAIN_MAX_PER_REVIEWER = env_int("RETRAIN_MAX_PER_REVIEWER", 100, minimum=1)
RETRAIN_MAX_PER_CONVERSATION = env_int("RETRAIN_MAX_PER_CONVERSATION", 5, minimum=1)
# Two examples whose texts' embeddings are at least this similar (cosine, in
# hundredths) and whose labels differ are a conflict: neither is trained on.
RETRAIN_DUPLICATE_SIMILARITY = env_int("RETRAIN_DUPLICATE_SIMILARITY", 95, minimum=50)
# Each run holds out this share (percent) of the reviewed examples added since the
# previous run, the newest, at most RETRAIN_HOLDOUT_MAX; the next run trains on them.
RETRAIN_HOLDOUT_PERCENT = env_int("RETRAIN_HOLDOUT_PERCENT", 20, minimum=0)
RETRAIN_HOLDOUT_MAX = env_int("RETRAIN_HOLDOUT_MAX", 200, minimum=0)
# The first training freezes this many examples per intent into the golden set
# when none are marked golden yet (demo: classifier/demo/golden.yaml).
GOLDEN_PER_INTENT = env_int("GOLDEN_PER_INTENT", 10, minimum=1)
# Promotion: an intent with at least PROMOTION_MIN_SUPPORT golden examples may lose
# at most PROMOTION_MAX_RECALL_DROP points of recall.
PROMOTION_MIN_SUPPORT = env_int("PROMOTION_MIN_SUPPORT", 10, minimum=1)
PROMOTION_MAX_RECALL_DROP = env_int("PROMOTION_MAX_RECALL_DROP", 5, minimum=0)
