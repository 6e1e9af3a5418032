"""ASGI entry point: HTTP through Django, websockets through Channels."""

from __future__ import annotations

import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.env import EnvError

try:
    # Initialise Django (and the app registry) before importing consumers.
    django_asgi_app = get_asgi_application()
except EnvError as error:
    sys.exit(f"Configuration error: {error}")

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter

from chatbot.origins import WebsocketOriginValidator
from chatbot.routing import websocket_urlpatterns

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebsocketOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
