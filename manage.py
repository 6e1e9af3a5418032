#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.env import EnvError, env_bool

    try:
        urls_set = os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
        if env_bool("DEBUG") and not urls_set:
            execute_with_embedded_servers(sys.argv)
        else:
            execute_from_command_line(sys.argv)
    except EnvError as error:
        sys.exit(f"Configuration error: {error}")


def execute_with_embedded_servers(argv: list[str]) -> None:
    """Development without URLs: reuse the embedded servers of a running `make run`,
    or start them for this command; they reach the settings as DATABASE_URL and
    REDIS_URL. Imported only here, so that production (no dev extra, no devserver
    package in the image) never imports it."""
    try:
        from devserver.embedded import StartError, servers_in_environment
    except ModuleNotFoundError as error:
        if error.name != "devserver":
            raise
        sys.exit(
            "Configuration error: DATABASE_URL/REDIS_URL: unset, and this install "
            "has no development servers; set both"
        )

    try:
        with servers_in_environment(reuse_running=True):
            execute_from_command_line(argv)
    except StartError as error:
        sys.exit(f"Configuration error: {error}")


if __name__ == "__main__":
    main()
