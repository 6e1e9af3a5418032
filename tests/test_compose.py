"""docker-compose.yml sets only variables the settings read, on one shared image."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
APP_SERVICES = {
    "migrate",
    "web",
    "worker-inference",
    "worker-training",
    "worker-webhooks",
    "worker-embeddings",
    "beat",
}


def variables_the_settings_read() -> set[str]:
    tree = ast.parse((BASE_DIR / "config" / "settings.py").read_text())
    return {
        str(node.args[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def compose() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def test_it_sets_only_variables_the_settings_read():
    read = variables_the_settings_read()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"} <= read
    for name in APP_SERVICES:
        service = compose()["services"][name]
        unknown = set(service["environment"]) - read
        assert not unknown, f"{name} sets {unknown}, which settings never read"


def test_it_runs_every_app_process_from_one_image():
    services = compose()["services"]
    assert set(services) >= APP_SERVICES
    assert {services[name]["image"] for name in APP_SERVICES} == {"concierge:latest"}


def test_it_has_postgres_with_pgvector_redis_and_a_worker_per_queue():
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert services["redis"]["image"].startswith("redis:")
    assert "inference" in services["worker-inference"]["command"]
    assert "training" in services["worker-training"]["command"]
    assert "webhooks" in services["worker-webhooks"]["command"]
    assert "embeddings" in services["worker-embeddings"]["command"]
    assert "beat" in services["beat"]["command"]


def interpolations(name: str) -> list[str]:
    """How each ``${NAME…}`` in the file is written, e.g. ``:?set it in .env``."""
    text = (BASE_DIR / "docker-compose.yml").read_text()
    return re.findall(r"\$\{" + name + r"(:?[-?][^}]*)?\}", text)


@pytest.mark.parametrize("name", ["POSTGRES_PASSWORD", "REDIS_PASSWORD"])
def test_it_refuses_to_start_without_a_password(name):
    uses = interpolations(name)
    assert uses, f"{name} is never used"
    assert all(use.startswith(":?") for use in uses), uses


def test_redis_asks_for_the_password_every_app_service_sends():
    services = compose()["services"]
    assert "--requirepass" in " ".join(services["redis"]["command"])
    for name in APP_SERVICES:
        url = services[name]["environment"]["REDIS_URL"]
        assert url.startswith("redis://:${REDIS_PASSWORD:?"), (name, url)
        database = services[name]["environment"]["DATABASE_URL"]
        assert ":${POSTGRES_PASSWORD:?" in database, (name, database)


def test_only_the_tls_proxy_is_published_and_only_it_is_trusted():
    services = compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("caddy:")
    assert "web:8000" in services["proxy"]["command"]
    web = services["web"]["command"]
    # uvicorn trusts forwarded headers from any peer only because nothing but the
    # proxy can reach it; Django itself trusts no proxy header.
    assert web[web.index("--forwarded-allow-ips") + 1] == "*"
    for name in APP_SERVICES:
        assert "SECURE_PROXY_SSL_HEADER" not in services[name]["environment"]


def test_the_image_alone_trusts_no_forwarded_header():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    command = dockerfile[dockerfile.index("\nCMD ") :]
    assert "--no-proxy-headers" in command
    assert "--forwarded-allow-ips" not in command


def test_web_and_workers_have_healthchecks_on_what_the_app_serves():
    services = compose()["services"]
    web = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/healthz" in web
    for name in (
        "worker-inference",
        "worker-training",
        "worker-embeddings",
        "worker-webhooks",
    ):
        assert services[name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "manage.py",
            "worker_alive",
        ]


def test_the_image_holds_every_package_production_imports():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    packages = ("config", "chatbot", "classifier", "recommender", "ml", "ops", "api")
    for package in packages:
        assert f"COPY {package} ./{package}" in dockerfile
