"""Catalog and order imports in the formats shops export (Shopify, WooCommerce) and
our own: variants onto their product, every bad row by line and column, all or
nothing unless --skip-bad, and a second import updates instead of duplicating.

The sample files in tests/data/imports/ were written from the platforms' documented
column lists (Shopify Help "Using CSV files to import and export products" and its
orders export; WooCommerce "Product CSV Import Schema" and the Customer / Order /
Coupon Export extension's one-row-per-line-item CSV).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from chatbot.models import Order, ShopSettings
from recommender.imports.attributes import attribute_key
from recommender.imports.rows import html_text
from recommender.models import Product

DATA = Path(__file__).resolve().parent / "data" / "imports"


def edited(tmp_path: Path, name: str, line: int, column: str, value: str) -> Path:
    """A copy of a sample file (or of the copy already in ``tmp_path``) with one
    cell changed: the record starting on ``line`` (1: the header), as an editor
    counts lines."""
    source = tmp_path / name if (tmp_path / name).exists() else DATA / name
    with source.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows, starts = [], []
        while True:
            start = reader.line_num + 1
            try:
                rows.append(next(reader))
            except StopIteration:
                break
            starts.append(start)
    rows[starts.index(line)][header.index(column)] = value
    target = tmp_path / name
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return target


# --- products -----------------------------------------------------------------------


def test_it_imports_a_shopify_export_as_one_product_per_handle_with_its_variants(db):
    call_command(
        "import_products", str(DATA / "shopify_products.csv"), format="shopify"
    )
    shirt = Product.objects.get(sku="linen-shirt")
    assert shirt.name == "Linen Shirt"
    assert shirt.category == "Shirts"
    assert shirt.brand == "Northwind"
    assert shirt.colours == ["blue", "white"]
    assert shirt.sizes == ["S", "M"]
    assert shirt.attributes["tags"] == ["summer", "linen"]
    assert shirt.price == Decimal("39.00")  # the cheapest variant
    assert shirt.stock == 3 + 0 + 5 + 0  # oversold (-2) counts as none left
    assert shirt.image == "https://cdn.example.com/linen-shirt.jpg"
    assert shirt.url == "/products/linen-shirt"
    assert shirt.active
    mug = Product.objects.get(sku="enamel-mug")
    # No Type: the last step of the standard Product Category.
    assert mug.category == "Mugs"
    assert mug.attributes == {}  # "Title: Default Title" is no option
    assert mug.stock == 1  # not tracked by Shopify: always for sale
    assert not mug.active  # Status draft
    assert Product.objects.count() == 2


def test_it_imports_a_woocommerce_export_with_variations_on_their_parent(db):
    call_command(
        "import_products",
        str(DATA / "woocommerce_products.csv"),
        format="woocommerce",
        verbosity=0,
    )
    hoodie = Product.objects.get(sku="HOODIE")
    assert hoodie.name == "Trail Hoodie"
    assert hoodie.category == "Hoodies"
    assert hoodie.brand == "Peakform"
    assert hoodie.colours == ["grey", "navy"]
    assert hoodie.sizes == ["S", "M", "L"]
    assert hoodie.price == Decimal("49.50")  # the grey S is on sale
    assert hoodie.stock == 4 + 2  # one parent named by id:101, the other by SKU
    assert hoodie.description == "A warm fleece hoodie with a kangaroo pocket."
    assert hoodie.image == "https://shop.example/hoodie.jpg"
    bottle = Product.objects.get(sku="BOTTLE-1")
    assert (bottle.price, bottle.stock) == (Decimal("25.00"), 1)  # "In stock?" 1
    assert not Product.objects.get(sku="CARE-GUIDE").active  # Published -1: draft
    # Variations are not products of their own; a grouped product has no price.
    assert set(Product.objects.values_list("sku", flat=True)) == {
        "HOODIE",
        "BOTTLE-1",
        "CARE-GUIDE",
    }


def test_imported_products_are_priced_in_the_shops_currency(db):
    ShopSettings(currency="EUR").save()
    call_command(
        "import_products", str(DATA / "shopify_products.csv"), format="shopify"
    )
    assert set(Product.objects.values_list("currency", flat=True)) == {"EUR"}


def test_a_concierge_row_without_a_currency_takes_the_shops(db, tmp_path):
    ShopSettings(currency="GBP").save()
    path = tmp_path / "p.csv"
    path.write_text("sku,name,category,price,currency\nA,B,C,1,\nD,E,F,2,usd\n")
    call_command("import_products", str(path), verbosity=0)
    assert dict(Product.objects.values_list("sku", "currency")) == {
        "A": "GBP",
        "D": "USD",
    }


def test_the_description_is_plain_text_without_markup_or_scripts():
    html = (
        "<p>Warm &amp; dry</p><ul><li>Taped <b>seams</b></li></ul>"
        "<script>steal()</script><style>p{}</style><img src=x onerror=alert(1)>"
        "&lt;script&gt;"
    )
    assert html_text(html) == "Warm & dry\nTaped seams\n<script>"


@pytest.mark.parametrize(
    ("file_format", "name", "line", "column", "value", "message"),
    [
        (
            "shopify",
            "shopify_products.csv",
            4,
            "Variant Price",
            "abc",
            "shopify_products.csv:4: column 'Variant Price': 'abc' is not a price",
        ),
        (
            "shopify",
            "shopify_products.csv",
            8,
            "Variant Inventory Qty",
            "lots",
            "shopify_products.csv:8: column 'Variant Inventory Qty': 'lots' is not "
            "a count",
        ),
        (
            "woocommerce",
            "woocommerce_products.csv",
            3,
            "Regular price",
            "sixty",
            "woocommerce_products.csv:3: column 'Regular price': 'sixty' is not a "
            "price",
        ),
        (
            "woocommerce",
            "woocommerce_products.csv",
            4,
            "Parent",
            "id:999",
            "woocommerce_products.csv:4: column 'Parent': no product 'id:999' in this "
            "file",
        ),
        (
            "woocommerce",
            "woocommerce_products.csv",
            5,
            "Type",
            "bundle",
            "woocommerce_products.csv:5: column 'Type': 'bundle' is not simple, "
            "variable, grouped, external or variation",
        ),
    ],
)
def test_a_bad_row_is_named_by_line_and_column_and_nothing_is_imported(
    db, tmp_path, file_format, name, line, column, value, message
):
    path = edited(tmp_path, name, line, column, value)
    with pytest.raises(CommandError) as raised:
        call_command("import_products", str(path), format=file_format)
    assert message in str(raised.value)
    assert "Nothing was imported" in str(raised.value)
    assert not Product.objects.exists()


def test_every_bad_row_is_reported_not_just_the_first(db, tmp_path):
    path = edited(tmp_path, "shopify_products.csv", 4, "Variant Price", "abc")
    path = edited(tmp_path, "shopify_products.csv", 8, "Status", "gone")
    with pytest.raises(CommandError) as raised:
        call_command("import_products", str(path), format="shopify")
    lines = str(raised.value).splitlines()
    assert lines[0].endswith(":4: column 'Variant Price': 'abc' is not a price")
    assert lines[1].endswith(
        ":8: column 'Status': 'gone' is not active, draft or archived"
    )


def test_a_missing_column_of_the_format_is_named_before_any_row(db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Handle,Title\nmug,Mug\n")
    with pytest.raises(CommandError, match=r"p\.csv:1: the header lacks \['Variant"):
        call_command("import_products", str(path), format="shopify")


def test_skip_bad_imports_the_good_products_and_reports_the_bad(db, tmp_path, capsys):
    # A bad variant leaves its whole product out: without it the price and stock
    # would be wrong.
    path = edited(tmp_path, "shopify_products.csv", 5, "Variant Price", "abc")
    call_command("import_products", str(path), format="shopify", skip_bad=True)
    assert list(Product.objects.values_list("sku", flat=True)) == ["enamel-mug"]
    out = capsys.readouterr()
    assert "skipped: " in out.err
    assert ":5: column 'Variant Price': 'abc' is not a price" in out.err
    assert (
        "Imported 1 products (1 new, 0 updated, 0 unchanged); 1 bad rows skipped."
        in out.out
    )


def test_a_second_import_updates_by_sku_instead_of_duplicating(db, tmp_path, capsys):
    call_command(
        "import_products",
        str(DATA / "woocommerce_products.csv"),
        format="woocommerce",
        verbosity=0,
    )
    first = dict(Product.objects.values_list("sku", "pk"))
    # The navy M (line 4) is now cheaper than the grey S on sale (49.50).
    path = edited(tmp_path, "woocommerce_products.csv", 4, "Regular price", "45")
    call_command("import_products", str(path), format="woocommerce")
    assert dict(Product.objects.values_list("sku", "pk")) == first
    assert Product.objects.get(sku="HOODIE").price == Decimal("45.00")
    # Only the hoodie changed; the others are left as they were.
    assert "(0 new, 1 updated, 2 unchanged)" in capsys.readouterr().out


def test_an_import_draws_a_progress_bar_and_queues_the_embeddings(
    db, settings, django_capture_on_commit_callbacks, monkeypatch, capsys
):
    from recommender import tasks

    queued: list[list[int]] = []
    monkeypatch.setattr(tasks.embed_products, "delay", queued.append)
    settings.EMBED_ON_SAVE = True
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_products", str(DATA / "shopify_products.csv"), format="shopify"
        )
    assert queued == [list(Product.objects.order_by("pk").values_list("pk", flat=True))]
    assert "Importing products" in capsys.readouterr().err
    # The same export again changes nothing, so nothing is embedded again.
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        call_command(
            "import_products", str(DATA / "shopify_products.csv"), format="shopify"
        )
    assert queued == []
    assert "(0 new, 0 updated, 2 unchanged)" in capsys.readouterr().out


# --- orders -------------------------------------------------------------------------


def test_it_imports_shopify_orders_grouped_by_name_with_their_items(db):
    call_command("import_orders", str(DATA / "shopify_orders.csv"), format="shopify")
    first = Order.objects.get(number="#1001")
    assert first.email == "alice@example.com"
    assert first.customer_name == "Alice Martin"
    assert first.status == Order.Status.SHIPPED  # fulfilled
    assert first.carrier == "DHL Express"
    assert first.total == Decimal("127.90")
    assert first.placed_at == datetime(2026, 11, 20, 8, 14, 51, tzinfo=UTC)
    assert list(first.items.order_by("pk").values_list("sku", "quantity", "price")) == [
        ("LS-BLU-S", 2, Decimal("45.00")),
        ("MUG-1", 1, Decimal("33.00")),
    ]
    second = Order.objects.get(number="#1002")
    assert second.status == Order.Status.PROCESSING  # paid, not yet sent
    assert second.items.count() == 1
    third = Order.objects.get(number="#1003")
    assert (third.status, third.refund_status) == (
        Order.Status.CANCELLED,
        Order.Refund.REFUNDED,
    )


def test_it_imports_woocommerce_orders_in_the_shops_time_zone(db):
    ShopSettings(timezone="Europe/Paris").save()
    call_command(
        "import_orders",
        str(DATA / "woocommerce_orders.csv"),
        format="woocommerce",
        verbosity=0,
    )
    order = Order.objects.get(number="812")
    assert order.status == Order.Status.SHIPPED  # completed
    assert order.customer_name == "Alice Martin"
    assert order.placed_at == datetime(2026, 11, 25, 13, 3, tzinfo=UTC)
    # item_total is the line's, after discounts: the price is per unit.
    assert list(order.items.order_by("pk").values_list("sku", "quantity", "price")) == [
        ("HOODIE-GREY-S", 2, Decimal("49.50")),
        ("BOTTLE-1", 1, Decimal("10.00")),
    ]
    assert Order.objects.get(number="813").status == Order.Status.PROCESSING


def test_it_imports_our_own_orders_csv(db):
    call_command("import_orders", str(DATA / "concierge_orders.csv"), verbosity=0)
    order = Order.objects.get(number="NW-20001")
    assert (order.carrier, order.tracking_number) == ("DHL", "JD014600006281")
    assert order.eta.isoformat() == "2026-12-04"
    assert order.items.count() == 2
    delivered = Order.objects.get(number="NW-20002")
    assert delivered.status == Order.Status.DELIVERED
    assert delivered.refund_status == Order.Refund.REFUNDED
    assert delivered.delivered_at is not None


def test_a_second_order_import_updates_by_number_and_replaces_the_items(
    db, tmp_path, capsys
):
    call_command("import_orders", str(DATA / "shopify_orders.csv"), format="shopify")
    pk = Order.objects.get(number="#1001").pk
    # The order's tracking number came from elsewhere (the API): Shopify's export
    # has none, so a re-import keeps it.
    Order.objects.filter(pk=pk).update(tracking_number="JD0001")
    path = edited(tmp_path, "shopify_orders.csv", 3, "Lineitem quantity", "4")
    call_command("import_orders", str(path), format="shopify")
    assert "(0 new, 1 updated, 2 unchanged)" in capsys.readouterr().out
    assert Order.objects.count() == 3
    order = Order.objects.get(number="#1001")
    assert order.pk == pk
    assert order.tracking_number == "JD0001"
    assert list(order.items.order_by("pk").values_list("sku", "quantity")) == [
        ("LS-BLU-S", 2),
        ("MUG-1", 4),
    ]


@pytest.mark.parametrize(
    ("file_format", "name", "line", "column", "value", "message"),
    [
        (
            "shopify",
            "shopify_orders.csv",
            2,
            "Email",
            "alice-at-example",
            "shopify_orders.csv:2: column 'Email': 'alice-at-example' is not an "
            "email address",
        ),
        (
            "shopify",
            "shopify_orders.csv",
            3,
            "Lineitem quantity",
            "two",
            "shopify_orders.csv:3: column 'Lineitem quantity': 'two' is not a count",
        ),
        (
            "shopify",
            "shopify_orders.csv",
            4,
            "Created at",
            "yesterday",
            "shopify_orders.csv:4: column 'Created at': 'yesterday' is not a date "
            "and time",
        ),
        (
            "woocommerce",
            "woocommerce_orders.csv",
            4,
            "status",
            "lost",
            "woocommerce_orders.csv:4: column 'status': 'lost' is not one of",
        ),
        (
            "concierge",
            "concierge_orders.csv",
            4,
            "status",
            "lost",
            "concierge_orders.csv:4: column 'status': 'lost' is not one of cancelled, "
            "delivered, placed, processing, returned, shipped",
        ),
        (
            "concierge",
            "concierge_orders.csv",
            2,
            "eta",
            "soon",
            "concierge_orders.csv:2: column 'eta': 'soon' is not a date (2026-12-24)",
        ),
    ],
)
def test_a_bad_order_row_is_named_by_line_and_column_and_nothing_is_imported(
    db, tmp_path, file_format, name, line, column, value, message
):
    path = edited(tmp_path, name, line, column, value)
    with pytest.raises(CommandError) as raised:
        call_command("import_orders", str(path), format=file_format)
    assert message in str(raised.value)
    assert not Order.objects.exists()


def test_skip_bad_imports_the_good_orders_and_reports_the_bad(db, tmp_path, capsys):
    path = edited(tmp_path, "shopify_orders.csv", 3, "Lineitem quantity", "two")
    call_command("import_orders", str(path), format="shopify", skip_bad=True)
    # A bad line item leaves its whole order out, not the order without it.
    assert set(Order.objects.values_list("number", flat=True)) == {"#1002", "#1003"}
    err = capsys.readouterr().err
    assert ":3: column 'Lineitem quantity': 'two' is not a count" in err


@pytest.mark.parametrize(
    ("option", "key"),
    [
        ("Color", "colours"),
        ("Colour", "colours"),
        ("pa_color", "colours"),
        ("Frame colour", "colours"),
        ("Size", "sizes"),
        ("Shoe size", "sizes"),
        ("Material", "material"),
        ("Heel height", "heel_height"),
    ],
)
def test_it_reads_a_shops_option_names_as_the_attributes_the_chat_filters_by(
    option, key
):
    assert attribute_key(option) == key


def test_a_shopify_export_without_stock_counts_shows_the_products_as_available(
    db, tmp_path
):
    # A shop with several locations exports no Variant Inventory Qty column.
    path = tmp_path / "products.csv"
    path.write_text(
        "Handle,Title,Type,Option1 Name,Option1 Value,Variant SKU,"
        "Variant Inventory Tracker,Variant Price\n"
        "trail-sock,Trail Sock,Socks,Shoe size,40-42,TS-1,shopify,9.00\n"
        "trail-sock,,,,43-45,TS-2,shopify,9.50\n"
    )
    call_command("import_products", str(path), format="shopify", verbosity=0)
    sock = Product.objects.get(sku="trail-sock")
    assert (sock.stock, sock.price, sock.sizes) == (
        2,
        Decimal("9.00"),
        ["40-42", "43-45"],
    )


def test_skip_bad_does_not_skip_a_file_without_the_formats_columns(db, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("Name,Email\n#1001,alice@example.com\n")
    with pytest.raises(CommandError, match=r"orders\.csv:1: the header lacks"):
        call_command("import_orders", str(path), format="shopify", skip_bad=True)
    assert not Order.objects.exists()


def test_a_row_with_more_cells_than_columns_is_a_bad_row(db, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("sku,name,category,price\nA,B,C,1\nD,E,F,2,surplus\n")
    with pytest.raises(CommandError, match=r"p\.csv:3: 5 cells under 4 columns"):
        call_command("import_products", str(path))
    call_command("import_products", str(path), skip_bad=True, verbosity=0)
    assert list(Product.objects.values_list("sku", flat=True)) == ["A"]


# --- the same files through the API --------------------------------------------------


def post(client, path: str, body: dict[str, object], *, scope: str):
    from tests.factories import api_key

    return client.post(
        path,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key(scopes=[scope])}"},
    )


@pytest.fixture
def plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False


def test_the_api_imports_a_shopify_export_with_the_commands_readers(
    db, client, plain_http
):
    text = (DATA / "shopify_products.csv").read_text()
    body = {"format": "shopify", "csv": text}
    response = post(client, "/api/v1/products/import", body, scope="catalog")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": [],
    }
    shirt = Product.objects.get(sku="linen-shirt")
    assert (shirt.colours, shirt.sizes) == (["blue", "white"], ["S", "M"])
    response = post(client, "/api/v1/products/import", body, scope="catalog")
    assert response.json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "skipped": [],
    }
    assert Product.objects.count() == 2


def test_the_api_names_each_bad_row_and_imports_nothing_unless_skip_bad(
    db, client, plain_http, tmp_path
):
    text = edited(tmp_path, "shopify_orders.csv", 3, "Lineitem quantity", "two")
    body = {"format": "shopify", "csv": text.read_text()}
    response = post(client, "/api/v1/orders/import", body, scope="orders")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "import.bad_rows"
    assert error["details"] == [
        {"line": 3, "column": "Lineitem quantity", "problem": "'two' is not a count"}
    ]
    assert not Order.objects.exists()
    response = post(
        client, "/api/v1/orders/import", {**body, "skip_bad": True}, scope="orders"
    )
    assert response.status_code == 200
    assert response.json()["created"] == 2
    assert response.json()["skipped"] == error["details"]


def test_the_api_refuses_a_file_over_the_servers_limit_with_a_code(
    db, client, plain_http, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"format": "shopify", "csv": "Handle,Title\n" + "a,b\n" * 5000}
    response = post(client, "/api/v1/products/import", body, scope="catalog")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request.too_large"
    assert not Product.objects.exists()


def test_a_variant_sold_on_backorder_counts_as_for_sale(db, tmp_path):
    shopify = tmp_path / "shopify.csv"
    shopify.write_text(
        "Handle,Title,Type,Variant Inventory Tracker,Variant Inventory Qty,"
        "Variant Inventory Policy,Variant Price\n"
        "made-to-order,Made to order,Chairs,shopify,0,continue,300\n"
        "sold-out,Sold out,Chairs,shopify,0,deny,300\n"
    )
    call_command("import_products", str(shopify), format="shopify", verbosity=0)
    woo = tmp_path / "woo.csv"
    woo.write_text(
        "ID,Type,SKU,Name,Stock,Backorders allowed?,Regular price\n"
        "1,simple,BENCH,Bench,0,notify,120\n"
        "2,simple,STOOL,Stool,0,0,40\n"
    )
    call_command("import_products", str(woo), format="woocommerce", verbosity=0)
    assert dict(Product.objects.values_list("sku", "stock")) == {
        "made-to-order": 1,
        "sold-out": 0,
        "BENCH": 1,
        "STOOL": 0,
    }


def test_an_imported_shopify_product_is_found_by_its_variants_colour_and_size(db):
    from recommender.embeddings import product_embed
    from recommender.search import search

    call_command(
        "import_products", str(DATA / "shopify_products.csv"), format="shopify"
    )
    product_embed()
    products, constraints, unmet = search("a white linen shirt in size M")
    assert unmet == []
    assert [p.sku for p in products] == ["linen-shirt"]
    # No green variant: the shirt is offered only as the nearest alternative.
    _, constraints, unmet = search("a linen shirt in green")
    assert constraints.colours == ["green"]
    assert unmet == ["in green"]
