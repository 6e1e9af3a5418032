"""Load the demo shop's data once, train the first model, print the demo login."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.demo import articles_load, orders_load
from chatbot.dialogue.knowledge import article_embed
from chatbot.models import Article, Order
from classifier.models import TrainingExample
from ml.models import ModelVersion
from recommender.embeddings import product_embed
from recommender.models import Product
from recommender.services import DEMO_CATALOG, products_import

DEMO_ADMIN = "admin"
DEMO_INTENTS = settings.BASE_DIR / "classifier" / "demo" / "intents.yaml"
# Held apart: every candidate model is measured on these and never trains on them.
DEMO_GOLDEN = settings.BASE_DIR / "classifier" / "demo" / "golden.yaml"


class Command(BaseCommand):
    help = "Load the demo data (once), train the first intent model, print the login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-train", action="store_true", help="Don't train an intent model."
        )

    def handle(self, *args: Any, no_train: bool = False, **options: Any) -> None:
        if not settings.DEMO:
            # It makes (or resets the password of) a superuser called "admin".
            raise CommandError(
                "setup_demo runs only in development (DEBUG=1) or with DEMO=1: it "
                f"creates a superuser {DEMO_ADMIN!r} and the demo shop's data"
            )
        self.load_once(
            "products", Product, lambda: products_import(DEMO_CATALOG).written
        )
        self.load_once("help-centre articles", Article, articles_load)
        self.load_once("orders", Order, orders_load)
        if TrainingExample.objects.exists():
            self.stdout.write("Intent examples already loaded; reusing them.")
        else:
            call_command("import_intents", str(DEMO_INTENTS), source="seed")
            call_command("import_intents", str(DEMO_GOLDEN), source="seed", golden=True)
        missing = Product.objects.filter(embedding__isnull=True).count()
        missing += Article.objects.filter(embedding__isnull=True).count()
        if missing:
            self.stdout.write(f"Embedding {missing} products and articles…")
            product_embed()
            article_embed(Article.objects.filter(embedding__isnull=True))
        active = ModelVersion.objects.filter(
            kind=ModelVersion.Kind.INTENT, status=ModelVersion.Status.ACTIVE
        )
        if not no_train and not active.exists():
            self.stdout.write("No intent model yet: training the first one.")
            call_command("train_intents", activate=True)
        self.stdout.write(self.style.SUCCESS(f"Demo admin login: {self.demo_admin()}"))

    def load_once(self, label: str, model: Any, load: Any) -> None:
        if model.objects.exists():
            self.stdout.write(f"Demo {label} already loaded; reusing them.")
        else:
            self.stdout.write(f"Loaded {load()} demo {label}.")

    def demo_admin(self) -> str:
        # The password is made on first run and kept under .data/, so every clone
        # gets its own and a second run prints the same one.
        password_file = settings.DATA_DIR / "demo-admin-password"
        password_file.parent.mkdir(parents=True, exist_ok=True)
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=DEMO_ADMIN, defaults={"is_staff": True, "is_superuser": True}
        )
        if not user.check_password(password):
            user.set_password(password)
            user.save()
        return f"{DEMO_ADMIN} / {password}"
