"""docker-compose.yml sets only variables the settings read, on one shared image."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
APP_SERVICES = {"migrate", "web", "worker-inference", "worker-training", "beat"}


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
    assert "beat" in services["beat"]["command"]
