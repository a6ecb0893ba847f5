"""The OCI distribution ``/v2`` API: a small dispatcher (``router``) and one module per resource."""
