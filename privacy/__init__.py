"""Privacy: redaction at the boundaries, retention, erasure and access requests, and
the staff access log. Sits beside ``chatbot`` and ``api`` (it may use both)."""
