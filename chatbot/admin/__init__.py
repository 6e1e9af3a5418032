"""Staff admin for the chat, one module per seam; importing this registers them all.

- ``conversations``: transcripts and the customers who wrote them.
- ``review``: the bot's messages, and correcting what it understood.
- ``console``: what the agent console keeps (canned responses, notes, presence).
- ``knowledge``: what the bot answers from (articles, response templates).
- ``orders``: the shop's orders and return requests.
"""

from chatbot.admin import console, conversations, knowledge, orders, review

__all__ = ["console", "conversations", "knowledge", "orders", "review"]
