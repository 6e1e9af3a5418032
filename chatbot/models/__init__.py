"""The chat's models, one module per seam; import them from here."""

from chatbot.models.console import AgentPresence, CannedResponse, ConversationNote
from chatbot.models.conversations import (
    TOKEN_SALT,
    Conversation,
    ConversationQuerySet,
    Customer,
    Message,
    PendingReply,
    new_public_id,
)
from chatbot.models.knowledge import Article, ResponseTemplate
from chatbot.models.orders import (
    Order,
    OrderActionCode,
    OrderItem,
    OrderLookup,
    ReturnRequest,
)
from chatbot.models.shop import (
    CARD_NOTICE,
    Boundary,
    OrderSource,
    ShopSettings,
    current_shop,
)

__all__ = [
    "CARD_NOTICE",
    "TOKEN_SALT",
    "AgentPresence",
    "Article",
    "Boundary",
    "CannedResponse",
    "Conversation",
    "ConversationNote",
    "ConversationQuerySet",
    "Customer",
    "Message",
    "Order",
    "OrderActionCode",
    "OrderItem",
    "OrderLookup",
    "OrderSource",
    "PendingReply",
    "ResponseTemplate",
    "ReturnRequest",
    "ShopSettings",
    "current_shop",
    "new_public_id",
]
