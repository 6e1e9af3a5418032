"""What the bot knows: help-centre articles (by slug), intents and their examples."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from api import schemas, services
from api.auth import ApiKeyAuth
from api.models import ApiKey
from chatbot.models import Article
from classifier.models import Intent

router = Router(auth=ApiKeyAuth(ApiKey.Scope.KNOWLEDGE), tags=["knowledge"])


@router.put(
    "/articles",
    response={200: schemas.UpsertOut, **schemas.ERRORS},
    summary="Create or update help-centre articles by slug",
)
def articles_upsert(request: HttpRequest, body: schemas.ArticlesIn) -> services.Changes:
    """Idempotent by slug; embeddings follow in the background."""
    return services.articles_upsert(
        articles=[article.model_dump() for article in body.articles]
    )


@router.post(
    "/articles/delete",
    response={200: schemas.DeleteOut, **schemas.ERRORS},
    summary="Delete help-centre articles by slug",
)
def articles_delete(
    request: HttpRequest, body: schemas.SlugsIn
) -> dict[str, list[str]]:
    deleted, missing = services.delete_by_key(Article, key="slug", values=body.slugs)
    return {"deleted": deleted, "missing": missing}


@router.put(
    "/intents",
    response={200: schemas.IntentsOut, **schemas.ERRORS},
    summary="Create or update intents and add training examples",
)
def intents_upsert(request: HttpRequest, body: schemas.IntentsIn) -> dict[str, object]:
    """Idempotent by name; examples are added, never removed, and the classifier
    learns them at its next training (weekly, or ``manage.py train_intents``)."""
    changes, added = services.intents_upsert(
        intents=[intent.model_dump() for intent in body.intents]
    )
    return {**vars(changes), "examples_added": added}


@router.post(
    "/intents/delete",
    response={200: schemas.DeleteOut, **schemas.ERRORS},
    summary="Delete intents (and their examples) by name",
)
def intents_delete(request: HttpRequest, body: schemas.NamesIn) -> dict[str, list[str]]:
    deleted, missing = services.delete_by_key(Intent, key="name", values=body.names)
    return {"deleted": deleted, "missing": missing}
