"""The catalog: imports, constraint parsing, filtered semantic search."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recommender.embeddings import product_embed
from recommender.models import Product
from recommender.search import parse_constraints, search
from tests.factories import ProductFactory

BRANDS = ["Northwind", "Peakform", "Sonora"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a waterproof jacket under $100", {"max": "100", "cat": ["Jackets"]}),
        ("shoes below 80 dollars", {"max": "80", "cat": ["Shoes"]}),
        ("something less than 25", {"max": "25"}),
        ("a tent for at most $300", {"max": "300", "cat": ["Outdoor"]}),
        ("headphones over $150", {"min": "150", "cat": ["Electronics"]}),
        ("a gift more than 40 bucks", {"min": "40"}),
        (
            "a backpack between $50 and $100",
            {"min": "50", "max": "100", "cat": ["Bags"]},
        ),
        ("boots from 100 to 200", {"min": "100", "max": "200", "cat": ["Shoes"]}),
        ("a pan $20-$60", {"min": "20", "max": "60", "cat": ["Kitchen"]}),
        (
            "Sonora speaker in stock",
            {"brands": ["Sonora"], "cat": ["Electronics"]},
        ),
        (
            "northwind parka available now",
            {"brands": ["Northwind"], "cat": ["Jackets"]},
        ),
        ("something nice for my dad", {}),
    ],
)
def test_it_reads_constraints_from_the_way_customers_phrase_them(text, expected):
    found = parse_constraints(text, brands=BRANDS)
    assert found.max_price == (Decimal(expected["max"]) if "max" in expected else None)
    assert found.min_price == (Decimal(expected["min"]) if "min" in expected else None)
    assert found.categories == expected.get("cat", [])
    assert found.brands == expected.get("brands", [])
    # Stock is honoured whatever the words; "in stock" changes nothing.
    assert found.sold_out_ok is False
    assert found.impossible is None


@pytest.mark.parametrize(
    "text", ["a jacket under $0", "shoes under -5 dollars", "over $200 and under $50"]
)
def test_it_flags_constraints_no_product_can_meet(text):
    assert parse_constraints(text).impossible


def test_it_searches_the_demo_catalog_within_the_constraints(demo_shop):
    products, constraints, unmet = search("a warm waterproof jacket under $100")
    assert constraints.max_price == Decimal("100")
    assert unmet == []
    assert products
    for product in products:
        assert product.category == "Jackets"
        assert product.price <= 100
        assert product.stock > 0


def test_it_ranks_by_meaning_within_the_filters(demo_shop):
    products, _, _ = search("noise cancelling headphones for flights")
    assert "headphone" in products[0].name.lower()


def test_an_impossible_search_returns_nothing_and_says_why(demo_shop):
    products, constraints, _ = search("a tent under $0")
    assert products == []
    assert "less than $0" in (constraints.impossible or "")


def test_it_imports_products_from_csv_and_updates_them_on_a_second_import(db, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,name,category,price,stock,brand\n"
        "T-1,Trail Tent,Outdoor,199.00,4,Trailhead\n"
        "T-2,Camp Stove,Outdoor,$49.50,0,Trailhead\n"
    )
    call_command("import_products", str(path), verbosity=0)
    path.write_text("sku,name,category,price,stock\nT-1,Trail Tent 2P,Outdoor,189,4\n")
    call_command("import_products", str(path), verbosity=0)
    assert dict(Product.objects.values_list("sku", "price")) == {
        "T-1": Decimal("189.00"),
        "T-2": Decimal("49.50"),
    }
    assert Product.objects.get(sku="T-1").name == "Trail Tent 2P"


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        (
            "p.csv",
            "sku,name,price\nA,B,1\n",
            r"p\.csv:1: the header lacks \['category'\]",
        ),
        ("p.csv", "sku,name,category,price\nA,B,C,1\nD,E,F,cheap\n", r"p\.csv:3: "),
        ("p.csv", "sku,name,category,price\nA,B,C,-4\n", r"p\.csv:2: negative price"),
        (
            "p.jsonl",
            '{"sku":"A","name":"B","category":"C","price":1}\n{oops\n',
            r"p\.jsonl:2: not valid JSON",
        ),
        (
            "p.jsonl",
            '{"sku":"A","name":"B","price":1}\n',
            r"p\.jsonl:1: missing category",
        ),
    ],
)
def test_a_malformed_row_names_its_line_and_imports_nothing(
    db, tmp_path, name, content, error
):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError, match=error):
        call_command("import_products", str(path))
    assert not Product.objects.exists()


def test_saving_a_product_queues_its_embedding_after_commit(
    db, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from recommender import tasks

    queued: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_products, "delay", queued.append)
    settings.EMBED_ON_SAVE = True
    with django_capture_on_commit_callbacks(execute=True):
        one = ProductFactory.create(sku="A", name="A", category="C", price=1)
        two = ProductFactory.create(sku="B", name="B", category="C", price=2)
    assert queued == [[one.pk, two.pk]]


def test_it_embeds_a_product_again_only_when_its_text_changed(db):
    product = ProductFactory.create(
        sku="A", name="Trail jacket", category="Jackets", price=90, stock=3
    )
    assert product_embed([product.pk]) == 1
    product.refresh_from_db()
    first = np.array(product.embedding)
    assert product_embed([product.pk]) == 0  # nothing changed
    product.stock, product.price = 0, 80
    product.save()
    assert product_embed([product.pk]) == 0  # price and stock are not in the text
    product.description = "Waterproof, with taped seams."
    product.save()
    assert product_embed([product.pk]) == 1
    product.refresh_from_db()
    assert not np.allclose(np.array(product.embedding), first)
