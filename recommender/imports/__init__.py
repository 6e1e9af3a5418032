"""Reading the files shops export: our own CSV/JSONL, Shopify's and WooCommerce's
product CSVs (one module per format), and the row and error handling they share
with the order imports (``chatbot.order_imports``, which may import this app; this
app may not import chatbot)."""
