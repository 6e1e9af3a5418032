"""The origin check in front of every websocket."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class WebsocketOriginValidator:
    """Accept a websocket only from the site's own hosts or the widget's shops.

    Allowed: ``ALLOWED_HOSTS`` (as Channels' ``AllowedHostsOriginValidator`` reads
    them) and the origins in ``WIDGET_ALLOWED_ORIGINS``. Settings are read on first
    use, not at import, so tests can override them.
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    def allowed_origins(self) -> list[str]:
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = [".localhost", "127.0.0.1", "[::1]"]
        return hosts + list(settings.WIDGET_ALLOWED_ORIGINS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        validator = OriginValidator(self.application, self.allowed_origins())
        return await validator(scope, receive, send)
