from __future__ import annotations

from django.urls import path

from chatbot.console.consumers import AgentConsumer
from chatbot.consumers import ChatConsumer
from chatbot.echo import EchoConsumer

websocket_urlpatterns = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/console/", AgentConsumer.as_asgi()),
    # Refuses every connection unless settings.BENCH_ECHO is on (benchmarks).
    path("ws/echo/", EchoConsumer.as_asgi()),
]
