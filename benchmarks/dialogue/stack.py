"""A throw-away chat stack for ``evaluate_dialogue``, and the shop controls.

The stack lives in a fresh database on the PostgreSQL server this process uses and
in an empty Redis database of its Redis server, so neither a running ``make run``
nor an earlier run leaks into the figures: migrated, the demo shop loaded (products,
articles, orders, intents, embeddings), the demo intent model trained as ``make
run`` trains it (cached by the intents file and the options, so a second run reuses
it), then an ASGI server and a Celery worker, as ``make run`` starts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

from benchmarks.dialogue.driver import Controls
from devserver.processes import (
    StartError,
    free_port,
    stop_process,
    wait_for_port,
    web_command,
    worker_command,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEMO_INTENTS = BASE_DIR / "classifier" / "demo" / "intents.yaml"
AGENT_NAME = "dialogue-bench-agent-{}"


def shop_controls(redis_url: str) -> Controls:
    """Controls acting on the database this process uses and on ``redis_url``."""
    return Controls(
        agents_online=set_agents_online,
        before_story=lambda: forget_lookup_failures(redis_url),
    )


def set_agents_online(count: int) -> None:
    """Exactly ``count`` support agents online: bench agents whose console has just
    said it is open; everyone else's presence is made stale."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from chatbot.models import AgentPresence

    now = timezone.now()
    AgentPresence.objects.update(last_seen=now - timedelta(hours=1))
    reply = Permission.objects.filter(
        content_type__app_label="chatbot", codename="reply_conversation"
    ).first()
    for n in range(1, count + 1):
        user, created = get_user_model().objects.get_or_create(
            username=AGENT_NAME.format(n), defaults={"is_staff": True}
        )
        if created and reply is not None:
            user.user_permissions.add(reply)
        AgentPresence.objects.update_or_create(user=user, defaults={"last_seen": now})


def forget_lookup_failures(redis_url: str) -> None:
    """Drop the failed order lookups counted so far: a story that mistypes an order
    number on purpose must not lock the next story out of its order."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match="*lookup-fail:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def free_redis_db(base_url: str) -> str:
    """The URL of an empty database (15 down to 1) on ``base_url``'s Redis server."""
    import redis

    parts = urlsplit(base_url)
    if parts.scheme not in ("redis", "rediss"):
        raise StartError(f"REDIS_URL: a {parts.scheme} URL can't pick a database")
    for index in range(15, 0, -1):
        url = urlunsplit(parts._replace(path=f"/{index}"))
        client = redis.Redis.from_url(url)
        try:
            if client.dbsize() == 0:
                return url
        finally:
            client.close()
    raise StartError("no empty Redis database (1-15) for the dialogue stack")


def model_cache_key(*, epochs: int | None, ensemble: int | None) -> str:
    digest = hashlib.sha256(DEMO_INTENTS.read_bytes())
    digest.update(json.dumps([epochs, ensemble]).encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def own_stack(
    *,
    log_dir: Path,
    epochs: int | None = None,
    ensemble: int | None = None,
    retrain: bool = False,
    say: Callable[[str], None] = print,
) -> Iterator[tuple[str, Controls]]:
    """Start a stack of its own; yield its URL and the controls for its shop."""
    work = Path(tempfile.mkdtemp(prefix="concierge-dialogue-"))
    db = connection.settings_dict
    original_name = db["NAME"]
    name = f"concierge_dialogue_{os.getpid()}"
    redis_url = free_redis_db(str(settings.REDIS_URL))
    env = stack_env(db_name=name, redis_url=redis_url, work=work)
    children: list[subprocess.Popen[bytes]] = []
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        connection.close()
        db["NAME"] = name  # this process now reads and writes the stack's shop
        say("Migrating a fresh database and loading the demo shop…")
        manage(env, log_dir, "migrate", "--no-input")
        manage(env, log_dir, "setup_demo", "--no-train")
        intent_model(
            env,
            log_dir,
            work=work,
            epochs=epochs,
            ensemble=ensemble,
            retrain=retrain,
            say=say,
        )
        port = free_port()
        say("Starting the web server and a worker…")
        children.append(spawn(worker_command(name="dialogue"), env, log_dir, "worker"))
        web = spawn(web_command(port), env, log_dir, "web")
        children.append(web)
        wait_for_port(
            port, process=web, name="web server", log=log_dir / "web.log", timeout=90
        )
        yield f"http://127.0.0.1:{port}", shop_controls(redis_url)
    finally:
        for child in children:
            stop_process(child, sig=15, timeout=20)
        connection.close()
        db["NAME"] = original_name
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()
        shutil.rmtree(work, ignore_errors=True)


def stack_env(*, db_name: str, redis_url: str, work: Path) -> dict[str, str]:
    db = connection.settings_dict
    user = db["USER"] or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY",)}
    env.update(
        DEBUG="1",
        DEMO="1",
        DATABASE_URL=f"postgres://{user}{password}@{host}/{db_name}",
        REDIS_URL=redis_url,
        CONCIERGE_DATA_DIR=str(work),
        MODEL_DIR=str(work / "models"),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        PYTHONUNBUFFERED="1",
        EMAIL_URL=f"file:///{work / 'mail'}",
        # Every story is a new customer from this one address.
        RATE_LIMIT_EXEMPT="127.0.0.1/32,::1/128",
    )
    return env


def spawn(
    args: list[str], env: dict[str, str], log_dir: Path, name: str
) -> subprocess.Popen[bytes]:
    with open(log_dir / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def manage(env: dict[str, str], log_dir: Path, *args: str) -> None:
    log = log_dir / f"manage-{args[0]}.log"
    with open(log, "ab") as out:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if done.returncode:
        tail = log.read_text(errors="replace")[-2000:]
        raise StartError(f"manage.py {' '.join(args)} failed:\n{tail}")


def intent_model(
    env: dict[str, str],
    log_dir: Path,
    *,
    work: Path,
    epochs: int | None,
    ensemble: int | None,
    retrain: bool,
    say: Callable[[str], None],
) -> None:
    """Activate the demo intent model: from the cache, or trained as ``make run``
    trains it (``train_intents --activate``) and then cached."""
    from django.test import override_settings

    from ml import registry
    from ml.models import ModelVersion

    cache = (
        Path(settings.DATA_DIR)
        / "dialogue-bench"
        / model_cache_key(epochs=epochs, ensemble=ensemble)
    )
    if retrain:
        shutil.rmtree(cache, ignore_errors=True)
    if (cache / "model").is_dir():
        say(f"Reusing the demo intent model trained before ({cache}).")
        meta = json.loads((cache / "version.json").read_text())
        with override_settings(MODEL_DIR=work / "models"):
            version = registry.register(
                kind=ModelVersion.Kind.INTENT,
                source_dir=cache / "model",
                metrics=meta["metrics"],
                trained_on=meta["trained_on"],
            )
            registry.activate(version)
        return
    say("Training the demo intent model (once; later runs reuse it)…")
    options = []
    if epochs is not None:
        options += ["--epochs", str(epochs)]
    if ensemble is not None:
        options += ["--ensemble", str(ensemble)]
    manage(env, log_dir, "train_intents", "--activate", *options)
    active = ModelVersion.objects.get(
        kind=ModelVersion.Kind.INTENT, status=ModelVersion.Status.ACTIVE
    )
    partial = cache.with_name(cache.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(active.artifact_path, partial / "model")
    (partial / "version.json").write_text(
        json.dumps({"metrics": active.metrics, "trained_on": active.trained_on})
    )
    shutil.rmtree(cache, ignore_errors=True)
    partial.rename(cache)
