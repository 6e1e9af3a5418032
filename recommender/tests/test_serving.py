"""Training from the Interaction table, serving through the registry, the hybrid."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ml import registry
from ml.models import GoldenSet, ModelVersion, TrainingRun
from recommender.models import Interaction, Product
from recommender.serving import live_model, recommend_for
from recommender.tasks import train_recommender
from recommender.tests.conftest import GROUPS, chain_sequences, group_vectors
from recommender.training import recommender_train
from tests.factories import InteractionFactory, ProductFactory

pytestmark = pytest.mark.django_db
PER_GROUP = 6
ALICE, CHARLIE, NEWCOMER = 1001, 1002, 1003


@pytest.fixture
def catalog() -> dict[str, Product]:
    vectors = group_vectors(PER_GROUP)
    products = {}
    for g, group in enumerate(GROUPS):
        for i in range(PER_GROUP):
            sku = f"{group}-{i}"
            products[sku] = ProductFactory.create(
                sku=sku,
                name=f"{group.title()} {i}",
                category=group.title(),
                price=Decimal("10.00"),
                stock=5,
                embedding=vectors[g * PER_GROUP + i],
            )
    return products


@pytest.fixture
def history(catalog) -> None:
    """Ninety customers walk a group in order; Alice has looked at two jackets."""
    rows = []
    for n, sequence in enumerate(chain_sequences(PER_GROUP, 90).values()):
        for sku in sequence:
            rows.append(
                InteractionFactory.build(
                    customer_id=n, product=catalog[sku], kind="purchase"
                )
            )
    rows += [
        InteractionFactory.build(
            customer_id=ALICE, product=catalog["jacket-1"], kind="view"
        ),
        InteractionFactory.build(
            customer_id=ALICE, product=catalog["jacket-2"], kind="purchase"
        ),
    ]
    # Built, then saved in one insert: auto_now_add stamps the rows in list order,
    # so creation order is time order.
    Interaction.objects.bulk_create(rows)


@pytest.fixture
def trained(history, django_capture_on_commit_callbacks) -> ModelVersion:
    with django_capture_on_commit_callbacks(execute=True):
        return recommender_train(activate=True)


def test_training_registers_and_activates_a_measured_version(trained):
    trained.refresh_from_db()
    assert trained.kind == ModelVersion.Kind.RECOMMENDER
    assert trained.status == ModelVersion.Status.ACTIVE
    # A fifth of the customers' last steps are frozen into the golden set and
    # never trained on.
    golden = GoldenSet.objects.get(kind="recommender")
    assert len(golden.cases) == 20 == trained.metrics["golden"]["cases"]
    assert trained.metrics["cases"] in (90, 91)  # Alice's last step may be golden
    assert trained.trained_on["interactions"] == Interaction.objects.count() - 20
    assert 0.0 <= trained.metrics["ndcg@10"] <= trained.metrics["hr@10"] <= 1.0
    files = sorted(p.name for p in Path(trained.artifact_path).iterdir())
    assert files == ["config.json", "model.safetensors"]
    loaded = live_model.get()
    assert loaded is not None
    version, model = loaded
    assert version.pk == trained.pk
    assert model.recommend(["jacket-2", "jacket-3"], k=1)[0][0] == "jacket-4"


def test_a_worse_model_is_kept_out(trained, django_capture_on_commit_callbacks):
    # Without the walkers' history the next model can only guess by the text: it
    # is measured on the same frozen golden cases as the active one, and loses.
    Interaction.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        second = train_recommender(activate=True)
    assert second is not None
    second = ModelVersion.objects.get(pk=second)
    assert second.status == ModelVersion.Status.REJECTED
    run = TrainingRun.objects.get(version=second)
    assert (run.trigger, run.outcome) == ("schedule", "rejected")
    assert "golden ndcg@10" in run.reason and "worse than the active" in run.reason
    loaded = live_model.get()
    assert loaded is not None and loaded[0].pk == trained.pk


def test_a_tampered_artifact_is_refused(trained):
    weights = Path(trained.artifact_path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(registry.ArtifactError, match="does not match"):
        live_model.get()


def test_alice_gets_what_usually_comes_next_with_a_reason(trained):
    found = recommend_for(customer_id=ALICE, viewing_sku=None, cart_skus=[], limit=3)
    skus = [p.sku for p, _ in found]
    assert skus[0] == "jacket-3"
    assert not {"jacket-1", "jacket-2"} & set(skus)
    why = dict((p.sku, w) for p, w in found)["jacket-3"]
    assert why in {"Often bought with Jacket 2", "Often bought with Jacket 1",
                   "Similar to Jacket 2", "Similar to Jacket 1"}  # fmt: skip


def test_the_cart_and_the_product_on_screen_steer_and_are_never_offered(trained):
    found = recommend_for(
        customer_id=CHARLIE, viewing_sku="shoe-2", cart_skus=["shoe-1"], limit=4
    )
    skus = [p.sku for p, _ in found]
    assert skus[0] == "shoe-3"
    assert not {"shoe-1", "shoe-2"} & set(skus)
    assert len(skus) == 4


def test_a_new_customer_without_context_gets_popular_products(trained):
    found = recommend_for(customer_id=NEWCOMER, viewing_sku=None, cart_skus=[], limit=3)
    assert len(found) == 3
    assert {why for _, why in found} == {"Popular right now"}


def test_a_product_newer_than_the_model_gets_similar_products_by_text(trained, catalog):
    new = ProductFactory.create(
        sku="mug-new",
        name="Mug Deluxe",
        category="Mug",
        price=Decimal("12.00"),
        stock=3,
        embedding=catalog["mug-3"].embedding,
    )
    found = recommend_for(customer_id=None, viewing_sku=new.sku, cart_skus=[], limit=3)
    assert found[0][0].sku == "mug-3"
    assert found[0][1] == "Similar to Mug Deluxe"
    assert all(p.sku.startswith("mug") for p, _ in found)


def test_without_an_active_model_content_similarity_still_answers(history):
    found = recommend_for(customer_id=ALICE, viewing_sku=None, cart_skus=[], limit=3)
    assert found[0][1] == "Similar to Jacket 2"
    assert all(p.sku.startswith("jacket") for p, _ in found)


def test_inactive_products_are_never_recommended(trained):
    Product.objects.filter(sku="jacket-3").update(active=False)
    found = recommend_for(customer_id=ALICE, viewing_sku=None, cart_skus=[], limit=5)
    assert "jacket-3" not in [p.sku for p, _ in found]
