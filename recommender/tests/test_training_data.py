"""What the nightly retraining learns from: the Interaction table, minus floods."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from recommender.models import Interaction
from recommender.training import _interaction_sequences
from tests.factories import InteractionFactory, ProductFactory

pytestmark = pytest.mark.django_db

ALICE, MALLORY = 1, 2


def events(customer_id: int, skus: list[str], *, every: timedelta) -> None:
    """Events of one customer, ``every`` apart, from the start of a minute."""
    start = (timezone.now() - timedelta(hours=2)).replace(second=0, microsecond=0)
    for n, sku in enumerate(skus):
        interaction = InteractionFactory.create(
            customer_id=customer_id, product=ProductFactory.create(sku=sku)
        )
        # created is set on insert; move it to when the event happened.
        Interaction.objects.filter(pk=interaction.pk).update(created=start + n * every)


def test_it_ignores_a_customer_who_sent_more_events_a_minute_than_a_shopper_can(
    settings,
):
    settings.RECOMMENDER_MAX_EVENTS_PER_MINUTE = 10
    events(ALICE, [f"A-{n}" for n in range(10)], every=timedelta(seconds=5))
    events(MALLORY, [f"M-{n}" for n in range(11)], every=timedelta(seconds=1))

    sequences, count = _interaction_sequences()

    assert sequences == {ALICE: [f"A-{n}" for n in range(10)]}
    assert count == 10


def test_it_learns_from_a_customer_whose_events_spread_over_minutes(settings):
    settings.RECOMMENDER_MAX_EVENTS_PER_MINUTE = 10
    events(ALICE, [f"A-{n}" for n in range(40)], every=timedelta(seconds=10))

    sequences, _ = _interaction_sequences()

    assert sequences == {ALICE: [f"A-{n}" for n in range(40)]}
