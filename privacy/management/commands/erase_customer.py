"""``manage.py erase_customer (--customer ID | --email E) [--yes]``: an erasure
request. Lists what it will delete, asks, then erases in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from privacy.erasure import erasure_plan, plan_table, subject_erase
from privacy.management.options import add_subject_arguments, by_name
from privacy.models import DataSubjectRequest
from privacy.subjects import SubjectError, subject_find


class Command(BaseCommand):
    help = (
        "Erase everything held about a customer (by id) or an email address: "
        "conversations, messages, interactions, returns, webhook deliveries, "
        "training examples; orders are anonymised unless the shop chose deletion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_subject_arguments(parser)
        parser.add_argument(
            "--yes", action="store_true", help="Erase without asking first."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        named = {"customer_id": options["customer"], "email": options["email"]}
        try:
            subject = subject_find(**named)
        except SubjectError as error:
            raise CommandError(str(error)) from error
        plan = erasure_plan(subject)
        self.stdout.write(plan_table(plan))
        # Nothing held is an answer too: it is recorded like any erasure.
        if plan and not options["yes"]:
            try:
                answer = input("Erase all of this? This cannot be undone. [yes/no] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing was erased.")
        record = subject_erase(
            **named, by_name=by_name(options), via=DataSubjectRequest.Via.COMMAND
        )
        anonymised = sum(record.anonymised.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased {record.total} rows, anonymised {anonymised} "
                f"(recorded as request #{record.pk})."
            )
        )
