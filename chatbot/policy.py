"""What the bot says to a customer message.

For now the reply names the classified intent (or echoes the message while no intent
model is active); the dialogue issue turns this into the real policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatbot.models import Message


@dataclass
class Reply:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    intent: str = ""
    confidence: float | None = None
    model_version_id: int | None = None


def respond(message: Message) -> Reply:
    """Choose the bot's reply to ``message``."""
    return Reply(text=f"You said: {message.text}")
