"""What the access and erasure commands share: how they name the person and who
is doing it."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import CommandParser


def add_subject_arguments(parser: CommandParser) -> None:
    named = parser.add_mutually_exclusive_group(required=True)
    named.add_argument("--customer", type=int, help="The customer record's id.")
    named.add_argument(
        "--email", help="An email address: every customer record that used it."
    )
    parser.add_argument(
        "--by",
        default="",
        help="Who is doing it, for the record (default: the operating-system user).",
    )


def by_name(options: dict[str, Any]) -> str:
    """Who the record names: ``--by``, else the operating-system user."""
    if options["by"]:
        return str(options["by"])[:150]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no such user in a bare container
        user = "unknown user"
    return f"{user} (command line)"
