"""Load the demo shop's data once and make sure a demo admin login exists."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from recommender.models import Product
from recommender.services import DEMO_CATALOG, products_import_jsonl

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = "Load the demo data (once) and print the demo admin login."

    def handle(self, *args: Any, **options: Any) -> None:
        if Product.objects.exists():
            self.stdout.write("Demo catalog already loaded; reusing it.")
        else:
            count = products_import_jsonl(DEMO_CATALOG)
            self.stdout.write(f"Loaded {count} demo products.")
        self.stdout.write(self.style.SUCCESS(f"Demo admin login: {self.demo_admin()}"))

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
