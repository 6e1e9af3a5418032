from __future__ import annotations

from django.urls import path

from chatbot.console.consumers import AgentConsumer
from chatbot.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/console/", AgentConsumer.as_asgi()),
]
