"""Report (and optionally make) the missing links between intents and articles."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.dialogue.knowledge import suggest_articles
from chatbot.dialogue.policy import answers_from_help_centre
from classifier.models import Intent

# --apply links an intent to its nearest article only when it is at least this
# similar. On the demo shop the nearest article is a right one for all 19 intents
# answered from the help centre, at 0.54 to 0.79; an intent whose nearest article
# is less similar than this most likely has no article yet.
APPLY_ABOVE = 0.5


class Command(BaseCommand):
    help = (
        "List the intents the bot answers from the help centre that no article is "
        "linked to, with the nearest articles by meaning; --apply links each to "
        "its nearest article when it is similar enough."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--suggest",
            action="store_true",
            help="Only report the suggestions (the default).",
        )
        mode.add_argument(
            "--apply",
            action="store_true",
            help=f"Link each to its nearest article if similarity ≥ {APPLY_ABOVE}.",
        )
        parser.add_argument(
            "--min-similarity",
            type=float,
            default=APPLY_ABOVE,
            help="The similarity --apply needs (0 to 1).",
        )

    def handle(
        self, *args: Any, apply: bool, min_similarity: float, **options: Any
    ) -> None:
        if not 0 <= min_similarity <= 1:
            raise CommandError("--min-similarity is between 0 and 1.")
        unlinked = [
            intent
            for intent in Intent.objects.filter(articles__isnull=True).order_by("name")
            if answers_from_help_centre(intent.name)
        ]
        if not unlinked:
            self.stdout.write(
                self.style.SUCCESS(
                    "Every intent answered from the help centre has an article."
                )
            )
            return
        linked = 0
        for intent in unlinked:
            suggestions = suggest_articles(intent)
            if not suggestions:
                self.stdout.write(f"{intent.name}: no similar article (no examples?)")
                continue
            listed = "; ".join(f"{a.title} ({s:.2f})" for a, s in suggestions)
            self.stdout.write(f"{intent.name}: {listed}")
            best, similarity = suggestions[0]
            if apply and similarity >= min_similarity:
                best.intents.add(intent)
                linked += 1
                self.stdout.write(f"  linked to {best.title}")
        if apply:
            self.stdout.write(
                self.style.SUCCESS(f"Linked {linked} of {len(unlinked)} intents.")
            )
        else:
            self.stdout.write(
                f"{len(unlinked)} intents without an article; --apply links them."
            )
