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


# --- attributes ---------------------------------------------------------------------


def test_it_imports_attributes_from_jsonl_and_csv(db, tmp_path):
    jsonl = tmp_path / "products.jsonl"
    jsonl.write_text(
        '{"sku": "S-1", "name": "Pacer Running Shoes", "category": "Shoes", '
        '"price": "59", "stock": 4, "attributes": {"colours": ["Blue", "grey"], '
        '"sizes": [40, 41, "m"], "material": "Mesh", "drop": "8 mm"}}\n'
        '{"sku": "S-2", "name": "Trail Sock", "category": "Sportswear", "price": 9, '
        '"colour": "red"}\n'
    )
    call_command("import_products", str(jsonl), verbosity=0)
    csv_file = tmp_path / "products.csv"
    csv_file.write_text(
        "sku,name,category,price,stock,colours,sizes,material,attributes\n"
        'J-1,Storm Shell,Jackets,89,3,red|navy,S; M; L,nylon,"{""hood"": true}"\n'
        "J-2,Plain Tee,Sportswear,15,3,,,,\n"
    )
    call_command("import_products", str(csv_file), verbosity=0)
    attributes = dict(Product.objects.values_list("sku", "attributes"))
    assert attributes == {
        "S-1": {
            "colours": ["blue", "grey"],
            "sizes": ["40", "41", "M"],
            "material": "mesh",
            "drop": "8 mm",
        },
        "S-2": {"colours": ["red"]},
        "J-1": {
            "hood": True,
            "colours": ["red", "navy"],
            "sizes": ["S", "M", "L"],
            "material": "nylon",
        },
        "J-2": {},
    }


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        (
            "p.jsonl",
            '{"sku":"A","name":"B","category":"C","price":1}\n'
            '{"sku":"D","name":"E","category":"F","price":1,"sizes":{"eu":42}}\n',
            r"p\.jsonl:2: column 'sizes': expected a list or text",
        ),
        (
            "p.jsonl",
            '{"sku":"A","name":"B","category":"C","price":1,"attributes":[1]}\n',
            r"p\.jsonl:1: column 'attributes': expected a JSON object",
        ),
        (
            "p.csv",
            "sku,name,category,price,attributes\nA,B,C,1,\nD,E,F,2,{oops\n",
            r"p\.csv:3: column 'attributes': not valid JSON",
        ),
        (
            "p.jsonl",
            '{"sku":"A","name":"B","category":"C","price":1,"material":["a","b"]}\n',
            r"p\.jsonl:1: column 'material': expected a short text",
        ),
        (
            "p.csv",
            "sku,name,category,price,stock\nA,B,C,1,lots\n",
            r"p\.csv:2: column 'stock': 'lots' is not a count",
        ),
    ],
)
def test_a_bad_attribute_names_its_line_and_column_and_imports_nothing(
    db, tmp_path, name, content, error
):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(CommandError, match=error):
        call_command("import_products", str(path))
    assert not Product.objects.exists()


def test_the_embedded_text_includes_the_attributes(db):
    shoe = ProductFactory.create(
        name="Pacer", category="Shoes", attributes={"colours": ["red"], "sizes": ["42"]}
    )
    assert "Colours: red. Sizes: 42." in shoe.search_text()


@pytest.fixture
def shoes(db):
    """Running shoes without embeddings yet: search falls back to words."""
    ProductFactory.create(
        sku="S-1",
        name="Tempo Runner",
        category="Shoes",
        price=75,
        stock=3,
        attributes={"colours": ["red", "white"], "sizes": ["40", "41", "42"]},
    )
    ProductFactory.create(
        sku="S-2",
        name="Sprint Runner",
        category="Shoes",
        price=45,
        stock=0,
        attributes={"colours": ["red"], "sizes": ["42"]},
    )
    ProductFactory.create(
        sku="S-3",
        name="Pacer Runner",
        category="Shoes",
        price=59,
        stock=8,
        attributes={"colours": ["blue"], "sizes": ["42", "43"], "material": "mesh"},
    )
    ProductFactory.create(
        sku="S-4",
        name="Canvas Runner",
        category="Shoes",
        price=49,
        stock=8,
        currency="EUR",
        attributes={"colours": ["red"]},
    )


def test_search_leaves_out_sold_out_products_unless_they_are_fine(shoes):
    assert {p.sku for p in search("red runner shoes").products} == {"S-1", "S-4"}
    found = search("red runner shoes, even if sold out")
    assert {p.sku for p in found.products} == {"S-1", "S-2", "S-4"}


def test_search_honours_colour_size_and_material(shoes):
    assert [p.sku for p in search("runner shoes in size 43").products] == ["S-3"]
    assert [p.sku for p in search("blue mesh runner shoes").products] == ["S-3"]
    assert [p.sku for p in search("white runner shoes size 41").products] == ["S-1"]


def test_search_compares_a_budget_only_with_prices_in_its_currency(shoes):
    assert [p.sku for p in search("red runner shoes under 60 euros").products] == [
        "S-4"
    ]
    dollars = search("red runner shoes under 60 dollars")
    assert dollars.unmet == ["under $60"]
    # The nearest, said so; one priced in euros is no nearer for its number.
    assert [p.sku for p in dollars.products] == ["S-1", "S-4"]


def test_search_names_the_constraint_it_could_not_meet(shoes):
    found = search("runner shoes in green")
    assert found.unmet == ["in green"]
    assert {p.sku for p in found.products} == {"S-1", "S-3", "S-4"}
    cheap = search("runner shoes under $20")
    assert cheap.unmet == ["under $20"]
    assert [p.sku for p in cheap.products] == ["S-3", "S-1", "S-4"]


def test_it_finds_the_product_a_question_names(shoes):
    from recommender.search import product_named

    named = product_named("is the sprint runner in stock?")
    assert named is not None and named.sku == "S-2"
    assert product_named("is it in stock?") is None


def test_the_demo_catalog_has_colours_and_sizes_for_clothes_and_shoes(demo_shop):
    worn = Product.objects.filter(category__in=["Shoes", "Jackets", "Sportswear"])
    assert worn.count() > 60
    assert all(p.colours and p.sizes for p in worn)
    found = search("running shoes under eighty bucks in blue")
    assert found.unmet == []
    for shoe in found.products:
        assert shoe.category == "Shoes" and shoe.price <= 80 and shoe.stock > 0
        assert "blue" in shoe.colours
